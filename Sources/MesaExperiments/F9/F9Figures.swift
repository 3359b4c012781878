import Foundation
import MesaAnalysis
import MesaTheory

/// F9's figures, each with its CSV (and gnuplot script) beside it in figures/: ab against training steps,
/// the last position on held-out sequences, the error per position, the trained weights as heat maps,
/// the full-one runs, and the entries the theory keeps at zero.
extension FindingF9 {
    /// Heat-map panels of [ZH]'s small matrices (2d × 2d and d × 2d, d = 5), up to four to a row.
    static let heatmapPanelSize = (width: 380, height: 330)

    /// A value per step of a run, NaN past its end.
    static func column(_ run: RunResult, steps: Int, _ value: (GradientDescent.Record) -> Double) -> [Double] {
        (0...steps).map { $0 < run.records.count ? value(run.records[$0]) : .nan }
    }

    /// Rows of a table with the given columns (x first).
    static func rows(_ columns: [[Double]]) -> [[Double]] {
        (0..<columns[0].count).map { i in columns.map { $0[i] } }
    }

    static func drawSetting(_ s: Setting, into dir: URL) throws {
        let slug = s.distribution.slug
        let steps = s.runs.map { $0.last.final.step }.max()!
        let sStar = s.prediction.stepSize
        // ab against training steps, with s* and the training set's own optimum.
        let abCSV = dir.appendingPathComponent("ab-\(slug).csv")
        try CSV.write(header: ["step"] + s.runs.map { "ab_a\($0.a0.shortName)_b\($0.b0.shortName)" } + ["s_star", "training_set_optimum"],
                      rows: rows([(0...steps).map(Double.init)] + s.runs.map { column($0.last, steps: steps, \.ab) }
                                 + [Array(repeating: sStar, count: steps + 1), Array(repeating: s.sampleOptimum, count: steps + 1)]),
                      to: abCSV)
        let n = s.runs.count
        try? Figures.render("""
        set key autotitle columnhead
        set datafile missing ''
        set title '\(s.distribution) (step size \(s.stepSize)): ab against training steps (starts above the range are cut)'
        set xlabel 'training step'
        set ylabel 'ab'
        set grid
        set key right center
        set yrange [0:\(3 * max(sStar, s.sampleOptimum))]
        plot \(s.runs.enumerated().map { i, r in "'\(abCSV.path)' using 1:\(i + 2) with lines lw 2 title '\(initTitle(r.a0, r.b0))'" }.joined(separator: ", \\\n     ")), \\
             '' using 1:\(n + 2) with lines dt 2 lw 2 lc rgb 'black' title 's* = \(String(format: "%.4f", sStar))', \\
             '' using 1:\(n + 3) with lines dt 3 lw 2 lc rgb 'gray40' title 'training-set optimum \(String(format: "%.4f", s.sampleOptimum))'
        """, to: dir.appendingPathComponent("ab-\(slug)"))

        // The last position on held-out sequences against training steps.
        let gaussian = s.prediction.moments.kappa3 > 0
        let probeSteps = Array(Set(s.runs.flatMap { $0.last.probes.map(\.step) })).sorted()
        let lastCSV = dir.appendingPathComponent("last-position-\(slug).csv")
        let metric: (LastPositionProbe.Metrics) -> Double = gaussian ? { $0.ratio } : { $0.testError }
        let columns = s.runs.map { r in
            probeSteps.map { step in r.last.probes.first { $0.step == step }.map { metric($0.metrics) } ?? .nan }
        }
        try CSV.write(header: ["step"] + s.runs.map { "a\($0.a0.shortName)_b\($0.b0.shortName)" } + ["predicted"],
                      rows: rows([probeSteps.map(Double.init)] + columns
                                 + [Array(repeating: gaussian ? s.prediction.expectedRatio : 0, count: probeSteps.count)]),
                      to: lastCSV)
        let what = gaussian ? "mean prediction/target ratio Re(ŷ_{T-1,j} / x_{T,j})" : "test error E‖ŷ_{T-1} − x_T‖²"
        try? Figures.render("""
        set key autotitle columnhead
        set datafile missing ''
        set title '\(s.distribution): \(what) on held-out sequences'
        set xlabel 'training step'
        set ylabel '\(gaussian ? "ratio" : "test error at t = T−1")'
        set grid
        \(gaussian ? "set yrange [0:1.1]" : "set logscale y")
        plot \(s.runs.enumerated().map { i, r in "'\(lastCSV.path)' using 1:\(i + 2) with lines lw 2 title '\(initTitle(r.a0, r.b0))'" }.joined(separator: ", \\\n     "))\(gaussian ? ", \\\n     '' using 1:\(n + 2) with lines dt 2 lw 2 lc rgb 'black' title 's*σ² = \(String(format: "%.4f", s.prediction.expectedRatio))', 1 with lines dt 3 lc rgb 'gray40' title 'next token recovered (1)'" : "")
        """, to: dir.appendingPathComponent("last-position-\(slug)"))

        // Per position: test error of each final model; the non-recovering part against s²κ3/(t−1).
        let positions = s.runs[0].profile.positions
        let middle = s.runs[min(1, n - 1)]
        let ab = try middle.last.model().ab
        let posCSV = dir.appendingPathComponent("positions-\(slug).csv")
        try CSV.write(header: ["position"] + s.runs.map { "test_error_a\($0.a0.shortName)_b\($0.b0.shortName)" }
                      + ["residual_measured", "residual_predicted", "gd_gap"],
                      rows: rows([positions.map(Double.init)] + s.runs.map(\.profile.testError)
                                 + [middle.profile.capabilityResidual,
                                    positions.map { s.prediction.capabilityResidual(position: $0, stepSize: ab) },
                                    middle.profile.gdGap]),
                      to: posCSV)
        try? Figures.render("""
        set key autotitle columnhead
        set datafile missing ''
        set title '\(s.distribution): held-out error per position after training'
        set xlabel 'position t'
        set ylabel 'mean square'
        set logscale y
        set grid
        set key outside bottom center horizontal
        plot \(s.runs.enumerated().map { i, r in "'\(posCSV.path)' using 1:\(i + 2) with lines lw 2 title 'E‖ŷ_t − x_{t+1}‖², \(initTitle(r.a0, r.b0))'" }.joined(separator: ", \\\n     ")), \\
             '' using 1:\(n + 2) with points pt 7 ps 0.6 lc rgb 'black' title 'E‖ŷ_t − s diag(|x_1|²) x_{t+1}‖² (measured, \(initTitle(middle.a0, middle.b0)))', \\
             '' using 1:\(n + 3) with lines dt 2 lw 2 lc rgb 'black' title 's²κ_3/(t−1) (predicted)'
        """, to: dir.appendingPathComponent("positions-\(slug)"), size: (900, 650))

        // Heat maps of the trained weights, one row per initialization.
        var panels: [HeatmapPanel] = []
        for r in s.runs {
            let m = try r.last.model()
            let tag = "\(slug)-a\(r.a0.shortName)-b\(r.b0.shortName)"
            try writeImaginaryParts(m, tag: tag, into: dir)
            panels.append(HeatmapPanel(title: "Re W^{KQ}, \(initTitle(r.a0, r.b0))", values: m.keyQuery.map(\.real),
                                       rows: 2 * m.dimension, cols: 2 * m.dimension, csv: dir.appendingPathComponent("weights-\(tag)-kq-re.csv")))
            panels.append(HeatmapPanel(title: "Re W^{PV}, \(initTitle(r.a0, r.b0))", values: m.projectionValue.map(\.real),
                                       rows: m.dimension, cols: 2 * m.dimension, csv: dir.appendingPathComponent("weights-\(tag)-pv-re.csv")))
        }
        try Figures.heatmaps(panels, layout: (n, 2), block: 5,
                             title: "\(s.distribution): trained weights (blocks of e_t = [x_t; x_{t-1}])",
                             panelSize: heatmapPanelSize, to: dir.appendingPathComponent("weights-\(slug)"))
    }

    /// Imaginary parts as CSV beside the figures (they are zero in expectation and are not drawn).
    static func writeImaginaryParts(_ m: LinearCausalAttention, tag: String, into dir: URL) throws {
        try CSV.writeMatrix(m.keyQuery.map(\.imaginary), rows: 2 * m.dimension, cols: 2 * m.dimension,
                            to: dir.appendingPathComponent("weights-\(tag)-kq-im.csv"))
        try CSV.writeMatrix(m.projectionValue.map(\.imaginary), rows: m.dimension, cols: 2 * m.dimension,
                            to: dir.appendingPathComponent("weights-\(tag)-pv-im.csv"))
    }

    static func drawFullOne(_ f: FullOne, into dir: URL) throws {
        let steps = f.runs.map { $0.free.final.step }.max()!
        let lossCSV = dir.appendingPathComponent("full-one-training.csv")
        var header = ["step"], columns: [[Double]] = [(0...steps).map(Double.init)]
        for r in f.runs {
            let tag = "a\(r.a0.shortName)_b\(r.b0.shortName)"
            header += ["loss_free_\(tag)", "loss_projected_\(tag)", "ab_free_\(tag)", "ab_projected_\(tag)", "offdiag_share_free_\(tag)"]
            columns += [column(r.free, steps: steps, \.loss), column(r.projected, steps: steps, \.loss),
                        column(r.free, steps: steps, \.ab), column(r.projected, steps: steps, \.ab),
                        column(r.free, steps: steps, \.offDiagonalMax)]
        }
        header.append("s_star")
        columns.append(Array(repeating: f.prediction.stepSize, count: steps + 1))
        try CSV.write(header: header, rows: rows(columns), to: lossCSV)
        func series(_ offset: Int, _ what: String) -> String {
            f.runs.enumerated().map { i, r in
                "'\(lossCSV.path)' using 1:\(2 + 5 * i + offset) with lines lw 2 title '\(what), \(initTitle(r.a0, r.b0))'"
            }.joined(separator: ", \\\n     ")
        }
        try? Figures.render("""
        set key autotitle columnhead
        set title 'full-one x_1 = 1: training loss with and without the diagonal projection'
        set xlabel 'training step'
        set ylabel 'training loss L'
        set logscale y
        set grid
        plot \(series(0, "free")), \\
             \(series(1, "projected"))
        """, to: dir.appendingPathComponent("full-one-loss"))
        try? Figures.render("""
        set key autotitle columnhead
        set title 'full-one x_1 = 1: ab against training steps'
        set xlabel 'training step'
        set ylabel 'ab'
        set grid
        plot \(series(2, "free")), \\
             \(series(3, "projected")), \\
             '' using 1:\(2 + 5 * f.runs.count) with lines dt 2 lw 2 lc rgb 'black' title 's* of the diagonal family = \(String(format: "%.4f", f.prediction.stepSize))'
        """, to: dir.appendingPathComponent("full-one-ab"))
        for r in f.runs {
            var panels: [HeatmapPanel] = []
            for (name, run) in [("free", r.free), ("projected", r.projected)] {
                let m = try run.model()
                let tag = "full-one-a\(r.a0.shortName)-b\(r.b0.shortName)-\(name)"
                try writeImaginaryParts(m, tag: tag, into: dir)
                let d = m.dimension
                var blockDiagonal = m
                blockDiagonal.projectDiagonalBlocks()
                let offKQ = zip(m.keyQuery, blockDiagonal.keyQuery).map { ($0 - $1).real }
                let offPV = zip(m.projectionValue, blockDiagonal.projectionValue).map { ($0 - $1).real }
                panels += [
                    HeatmapPanel(title: "\(name): Re W^{KQ}", values: m.keyQuery.map(\.real), rows: 2 * d, cols: 2 * d,
                                 csv: dir.appendingPathComponent("weights-\(tag)-kq-re.csv")),
                    HeatmapPanel(title: "\(name): Re W^{PV}", values: m.projectionValue.map(\.real), rows: d, cols: 2 * d,
                                 csv: dir.appendingPathComponent("weights-\(tag)-pv-re.csv")),
                    HeatmapPanel(title: "\(name): Re W^{KQ} off the block diagonals", values: offKQ,
                                 rows: 2 * d, cols: 2 * d, csv: dir.appendingPathComponent("weights-\(tag)-kq-offdiag-re.csv")),
                    HeatmapPanel(title: "\(name): Re W^{PV} off the block diagonals", values: offPV,
                                 rows: d, cols: 2 * d, csv: dir.appendingPathComponent("weights-\(tag)-pv-offdiag-re.csv")),
                ]
            }
            try Figures.heatmaps(panels, layout: (2, 4), block: 5,
                                 title: "full-one x_1 = 1, \(initTitle(r.a0, r.b0)): free (top) and projected (bottom) weights",
                                 panelSize: heatmapPanelSize, to: dir.appendingPathComponent("weights-full-one-a\(r.a0.shortName)-b\(r.b0.shortName)"))
        }
    }

    /// Entries that the theory keeps at zero, against training steps (log scale: exact zeros are not drawn).
    static func drawStructure(settings: [Setting], orbit: Orbit, into dir: URL) throws {
        guard let gaussian = settings.first(where: { $0.distribution.slug == "gaussian-sigma1" }),
              let sparse = settings.first(where: { $0.distribution.slug == "sparse-c1" }) else { return }
        let g = gaussian.runs[1].table, sp = sparse.runs[1].table
        let steps = tableSteps
        let csv = dir.appendingPathComponent("structure.csv")
        try CSV.write(header: ["step", "gaussian_iid_offdiag", "gaussian_iid_outside", "gaussian_orbit_outside",
                               "sparse_iid_offdiag", "sparse_iid_outside"],
                      rows: rows([(0...steps).map(Double.init), column(g, steps: steps, \.offDiagonalMax),
                                  column(g, steps: steps, \.outsideStructureMax), column(orbit.run, steps: steps, \.outsideStructureMax),
                                  column(sp, steps: steps, \.offDiagonalMax), column(sp, steps: steps, \.outsideStructureMax)]),
                      to: csv)
        try? Figures.render("""
        set key autotitle columnhead
        set title 'entries the theory keeps at zero, from (a_0, b_0) = (0.5, 1.5) (exact zeros are not drawn)'
        set xlabel 'training step'
        set ylabel 'largest modulus'
        set logscale y
        set format y '10^{%T}'
        set grid
        set key outside bottom center horizontal
        plot '\(csv.path)' using 1:2 with lines lw 2 title 'Gaussian σ = 1, i.i.d.: off the block diagonals', \\
             '' using 1:3 with lines lw 2 title 'Gaussian σ = 1, i.i.d.: outside diag(a), diag(b)', \\
             '' using 1:4 with lines lw 2 title 'Gaussian σ = 1, symmetry orbit: outside diag(a), diag(b)', \\
             '' using 1:6 with lines lw 2 title 'sparse c = 1, i.i.d.: outside diag(a), diag(b)'
        """, to: dir.appendingPathComponent("structure"), size: (900, 650))
    }
}
