import Foundation
import MesaAnalysis
import MesaNN
import MesaTensor
import MesaTraining

/// How a training step grows with the work (issue 14, `mesa bench --scaling`): step time
/// (forward, backward, AdamW; data excluded) against the sequence length T, the key size d_k
/// and the depth, for each attention kind, on SPEC §2's unconstructed-token model (embedding,
/// pre-LayerNorm blocks with MLPs, the softmax-7 preset with its layers replaced). Each sweep
/// changes one quantity from the base point (T 50, d_k = d_v 20, 2 layers) and is drawn on
/// log–log axes (CSV beside the figure). The fitted slopes (least squares of log time on log x
/// over the three largest x) are checked against the orders the attention forms should show.
public struct ScalingBenchmark {
    public struct Sweep {
        public let axis: String
        public let values: [Int]
        /// Median step time in seconds, [kind][value].
        public let seconds: [[Double]]
    }

    public let kinds: [LayerKind]
    public let batchSize: Int
    /// Where the chunked forms overtake the quadratic ones (linear, mesa), measured on the
    /// attention operation alone (FormCrossover.swift).
    public var crossovers: [FormCrossover] = []
    public let sweeps: [Sweep]

    public static let lengths = [25, 50, 100, 200, 400, 800]
    public static let keySizes = [10, 20, 40, 80]
    public static let depths = [1, 2, 4, 8]

    /// The configuration of one point.
    public static func config(kind: LayerKind, length: Int, keySize: Int, depth: Int, batchSize: Int) throws -> TrainConfig {
        var c = try Presets.config("softmax-7")
        c.preset = "scaling-\(kind.rawValue)"
        c.model.layers = Array(repeating: kind, count: depth)
        c.model.keySize = keySize
        c.model.valueSize = keySize
        c.length = length
        c.batchSize = batchSize
        try c.validate()
        return c
    }

    /// Median time of `repeats` training steps (after one untimed) on one fixed batch.
    public static func stepSeconds(_ config: TrainConfig, repeats: Int) throws -> Double {
        let trainer = try Trainer(config: config)
        let batch = trainer.trainingBatch(step: 0)
        return try medianTime(repeats: repeats, warmup: 1) { _ = try trainer.update(on: batch) }.median
    }

    public static func run(kinds: [LayerKind] = [.linear, .softmax, .mesa], batchSize: Int = 16, repeats: Int = 3,
                           lengths: [Int] = lengths, keySizes: [Int] = keySizes, depths: [Int] = depths,
                           crossoverLengths: [Int] = FormCrossover.defaultLengths,
                           progress: ((String) -> Void)? = nil) throws -> ScalingBenchmark {
        func sweep(_ axis: String, _ values: [Int], _ make: (LayerKind, Int) throws -> TrainConfig) throws -> Sweep {
            var seconds: [[Double]] = []
            for kind in kinds {
                var row: [Double] = []
                for x in values {
                    let s = try stepSeconds(make(kind, x), repeats: repeats)
                    progress?("\(kind.rawValue) \(axis) \(x): \(String(format: "%.2f", s * 1e3)) ms")
                    row.append(s)
                }
                seconds.append(row)
            }
            return Sweep(axis: axis, values: values, seconds: seconds)
        }
        let b = batchSize
        var crossovers: [FormCrossover] = []
        for kind in kinds where kind == .linear || kind == .mesa {
            let c = FormCrossover.measure(kind: kind, lengths: crossoverLengths, repeats: max(3, 2 * repeats + 1))
            progress?(c.report)
            crossovers.append(c)
        }
        return ScalingBenchmark(kinds: kinds, batchSize: b, crossovers: crossovers, sweeps: [
            try sweep("T", lengths) { try config(kind: $0, length: $1, keySize: 20, depth: 2, batchSize: b) },
            try sweep("d_k", keySizes) { try config(kind: $0, length: 50, keySize: $1, depth: 2, batchSize: b) },
            try sweep("depth", depths) { try config(kind: $0, length: 50, keySize: 20, depth: $1, batchSize: b) },
        ])
    }

    /// The least-squares slope of log(time) against log(x) over the three largest values of a
    /// sweep (all of them when there are fewer): the order of growth at the large end.
    public static func slope(_ values: [Int], _ seconds: [Double]) -> Double {
        let k = min(3, values.count)
        let x = values.suffix(k).map { log(Double($0)) }, y = seconds.suffix(k).map { log($0) }
        let mx = x.reduce(0, +) / Double(k), my = y.reduce(0, +) / Double(k)
        let sxy = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +)
        let sxx = x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
        return sxy / sxx
    }

    /// The order each kind's step should approach at the large end of a sweep, with the
    /// range a measured slope must fall in to match it. Quadratic forms (softmax; linear at
    /// small T): O(T²·d_k) per layer; the chunked forms the linear kind and the mesa-layer's
    /// read-out switch to beyond `ChunkedMix.prefersChunked` (T > 112 for linear, T > 152 for mesa at d_k 20), and the
    /// mesa-layer's recursion: O(T·d_k²). The projections and the MLP add O(T·d_k) and O(T)
    /// terms, so a slope is checked against a range, not a value.
    public static func expected(kind: LayerKind, axis: String) -> (order: String, range: ClosedRange<Double>)? {
        let quadratic = kind == .softmax || kind == .linear
        switch axis {
        case "T" where kind == .softmax: return ("T²", 1.5...2.3)
        case "T" where kind == .linear: return ("T (chunked form at the three largest T; T² below the switch)", 0.7...1.3)
        case "T" where kind == .mesa: return ("T", 0.7...1.3)
        case "d_k" where quadratic: return ("d_k or less (the T² and MLP terms do not grow)", 0.2...1.2)
        case "d_k" where kind == .mesa: return ("up to d_k²", 0.8...2.2)
        case "depth": return ("depth", 0.8...1.2)
        default: return nil
        }
    }

    /// Writes scaling_T / scaling_d_k / scaling_depth (.csv, .png, .svg, .gp) into `dir`.
    public func write(to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var csvs: [(Sweep, URL)] = []
        for s in sweeps {
            var csv = ([s.axis] + kinds.map { "\($0.rawValue)_ms" }).joined(separator: ",") + "\n"
            for (i, x) in s.values.enumerated() {
                csv += ([String(x)] + kinds.indices.map { String(format: "%.4f", s.seconds[$0][i] * 1e3) }).joined(separator: ",") + "\n"
            }
            let url = dir.appendingPathComponent("scaling_\(s.axis).csv")
            try csv.write(to: url, atomically: true, encoding: .utf8)
            csvs.append((s, url))
        }
        var crossoverFigures: [(FormCrossover, URL)] = []
        for c in crossovers {
            var csv = "T,quadratic_ms,chunked_ms\n"
            for (i, t) in c.lengths.enumerated() {
                csv += "\(t),\(String(format: "%.4f", c.quadratic[i] * 1e3)),\(String(format: "%.4f", c.chunked[i] * 1e3))\n"
            }
            let csvURL = dir.appendingPathComponent("crossover_\(c.kind.rawValue).csv")
            try csv.write(to: csvURL, atomically: true, encoding: .utf8)
            crossoverFigures.append((c, csvURL))
        }
        for (s, csvURL) in csvs {
            let plots = kinds.indices.map { k in
                "'\(csvURL.path)' using 1:\(k + 2) with linespoints pt 7 ps 0.6 lw 2 title '\(kinds[k].rawValue)'"
            }.joined(separator: ", \\\n     ")
            try Figures.render("""
            set title 'training step time vs \(s.axis) (B \(batchSize); log–log)'
            set xlabel '\(s.axis)'
            set ylabel 'ms per step'
            set logscale xy
            set grid
            set key top left
            plot \(plots)
            """, to: dir.appendingPathComponent("scaling_\(s.axis)"))
        }
        for (c, csvURL) in crossoverFigures {
            let rule = c.ruleCrossover.map { "set arrow from first \($0), graph 0 to first \($0), graph 1 nohead dt 2\n" } ?? ""
            try Figures.render("""
            set title '\(c.kind.rawValue): forward + backward, quadratic vs chunked form (B 16, H 4, d_k 20; log–log; dashed: where the rule switches)'
            set xlabel 'T'
            set ylabel 'ms'
            set logscale xy
            set grid
            set key top left
            \(rule)plot '\(csvURL.path)' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'quadratic', \\
                 '\(csvURL.path)' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'chunked'
            """, to: dir.appendingPathComponent("crossover_\(c.kind.rawValue)"))
        }
    }

    public var report: String {
        var lines = crossovers.map(\.report) + ["step time (forward, backward, AdamW) against the work, B \(batchSize), \(Parallel.workers) threads; "
                     + "base point T 50, d_k = d_v 20, 2 layers (unconstructed tokens, LayerNorm, MLP)"]
        for s in sweeps {
            lines.append("\(s.axis): " + s.values.map(String.init).joined(separator: ", "))
            for (k, kind) in kinds.enumerated() {
                let ms = s.seconds[k].map { String(format: "%.2f", $0 * 1e3) }.joined(separator: ", ")
                let slope = Self.slope(s.values, s.seconds[k])
                var verdict = ""
                if let e = Self.expected(kind: kind, axis: s.axis) {
                    verdict = "; expected \(e.order), slope in \(e.range.lowerBound)…\(e.range.upperBound): "
                        + (e.range.contains(slope) ? "matched" : "not matched")
                }
                lines.append("  \(kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(ms) ms"
                             + String(format: "   log-log slope over the three largest %.2f", slope) + verdict)
            }
        }
        return lines.joined(separator: "\n")
    }
}
