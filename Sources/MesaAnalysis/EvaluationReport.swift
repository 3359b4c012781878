import Foundation

/// Plain-text renderings of an evaluation for the terminal and the reports.
public enum EvaluationReport {
    /// Per-position losses (every `stride`-th position and the last) and the means.
    public static func table(summary: Evaluation.Summary, table: [String: [Double]], stride: Int = 5) -> String {
        let columns = Evaluation.columns.filter { table[$0] != nil }
        let length = table["model"]?.count ?? 0
        var positions = Array(Swift.stride(from: 0, to: length, by: stride))
        if let last = positions.last, last != length - 1 { positions.append(length - 1) }
        // Padded to 11, never cut: a diverged model's 8.79e35 must print as that, not as its first digits.
        func cell(_ s: String) -> String { s.count < 11 ? s.padding(toLength: 11, withPad: " ", startingAt: 0) : s + " " }
        func number(_ v: Double) -> String {
            abs(v) < 1e4 && (abs(v) >= 1e-4 || v == 0) ? String(format: "%.5f", v) : String(format: "%.4e", v)
        }
        var lines = ["\(summary.preset) at step \(summary.step): loss per position on \(summary.evalBatchSize) held-out sequences",
                     cell("position") + columns.map(cell).joined()]
        for t in positions {
            lines.append(cell("\(t + 1)") + columns.map { cell(number(table[$0]![t])) }.joined())
        }
        lines.append(cell("mean") + columns.map { cell(number(summary.meanLoss[$0] ?? .nan)) }.joined())
        lines.append(String(format: "GD-1 step size η = %.5g (line search on a validation batch); ridge λ = %g",
                            summary.gdOneStepSize, summary.ridgeLambda))
        lines.append(String(format: "largest per-position gap, model vs GD-1: %.2f%%", 100 * summary.maxRelativeGapToGDOne))
        if let c = summary.activationClip, let g = summary.maxRelativeGapToGDOneClipped,
           let gs = summary.maxRelativeGapToGDOneClippedSearched, let ec = summary.gdOneClippedStepSize {
            lines.append(String(format: "GD-1 through the model's ±%g clip (gd1-clip: same η; gd1-clip-ls: η = %.5g line-searched through the clip)",
                                c, ec))
            lines.append(String(format: "largest per-position gap, model vs gd1-clip: %.2f%%, vs gd1-clip-ls: %.2f%%", 100 * g, 100 * gs))
        }
        if let r = summary.maxRelativeGapToRevAlgOne {
            lines.append(String(format: "largest per-position gap, model vs RevAlg-1: %.2f%%", 100 * r))
        }
        return lines.joined(separator: "\n")
    }
}
