import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Sensitivity of the prediction to past states (SPEC §5.7): S[t, t'] = E_b ‖∂f_t/∂s_{t'}‖_F, the
/// Frobenius norm of the n × n Jacobian of the model's output at position t with respect to the
/// state s_{t'}, averaged over sequences. A model that only looks at s_t and s_{t−1} (the
/// constructed tokens, or softmax-7's first layer) shows two bright diagonals; a causal model is
/// exactly 0 above the diagonal.
///
/// Exact, by reverse mode: each sequence is copied n times, copy i seeded with e_i at position t,
/// so one backward per position t yields row i of ∂f_t/∂(tokens) for every copy at once (the
/// sequences of a batch do not interact). The forward is run once per chunk and its graph
/// back-propagated T times. Tokens map to states linearly (SPEC §1: e_t = [0, s_t, s_t, s_{t−1}]
/// or e_t = s_t), so ∂f/∂s_{t'} sums the token blocks that hold s_{t'}.
public enum Sensitivity {
    /// S as [T, T] row-major (row t: output position, column t': input position, both 1-based at
    /// index −1), from states [B, T, n] (Double).
    public static func measure(model: Transformer, states: Tensor, tokens construction: TokenConstruction,
                               chunk: Int = 16) -> [Double] {
        let (bSize, tLen, n) = (states.shape[0], states.shape[1], states.shape[2])
        let all = states.converted(to: .float64).doubles
        var sum = [Double](repeating: 0, count: tLen * tLen)
        // Only the input's gradient is wanted: the weights' would be computed and summed for nothing.
        let parameters = model.parameters.map(\.variable).filter(\.requiresGrad)
        for p in parameters { p.setRequiresGrad(false) }
        defer { for p in parameters { p.setRequiresGrad(true) } }
        for start in stride(from: 0, to: bSize, by: chunk) {
            let b = min(chunk, bSize - start)
            // Copy i of sequence k at row i·b + k: [n·b, T, n].
            let copies = Tensor(shape: [n * b, tLen, n], of: Double.self) { dst in
                let stride = tLen * n
                for i in 0..<n { for k in 0..<b { for j in 0..<stride { dst[(i * b + k) * stride + j] = all[(start + k) * stride + j] } } }
            }
            let input = Variable(construction.tokens(from: copies).converted(to: model.dtype), requiresGrad: true)
            let output = model(input)                                             // [n·b, T, n]
            for t in 0..<tLen {
                var seed = [Double](repeating: 0, count: n * b * tLen * n)
                for i in 0..<n { for k in 0..<b { seed[((i * b + k) * tLen + t) * n + i] = 1 } }
                input.grad = nil
                output.backward(seed: Tensor(shape: [n * b, tLen, n], seed).converted(to: model.dtype))
                let g = stateGradient(input.grad!.converted(to: .float64).doubles, construction, copies: n * b, length: tLen, n: n)
                // ‖∂f_t/∂s_{t'}‖² of sequence k: Σ_i over copies i of Σ_j g[i·b + k, t', j]².
                for k in 0..<b {
                    for tp in 0..<tLen {
                        var norm2 = 0.0
                        for i in 0..<n { for j in 0..<n { let v = g[((i * b + k) * tLen + tp) * n + j]; norm2 += v * v } }
                        sum[t * tLen + tp] += norm2.squareRoot()
                    }
                }
            }
        }
        return sum.map { $0 / Double(bSize) }
    }

    /// ∂/∂s_{t'} from ∂/∂e_τ [R, T, width] → [R, T, n]: for constructed tokens s_{t'} sits in the
    /// `current` blocks of e_{t'} and the `previous` block of e_{t'+1}.
    static func stateGradient(_ g: [Double], _ construction: TokenConstruction, copies: Int, length tLen: Int, n: Int) -> [Double] {
        guard let signals = construction.blockSignals else { return g }
        let w = signals.count * n
        var out = [Double](repeating: 0, count: copies * tLen * n)
        for r in 0..<copies {
            for t in 0..<tLen {
                for (block, signal) in signals.enumerated() {
                    let target: Int
                    switch signal {
                    case .zero: continue
                    case .current: target = t
                    case .previous: target = t - 1
                    }
                    guard target >= 0 else { continue }  // e_1's s_0 is the constant 0
                    for j in 0..<n { out[(r * tLen + target) * n + j] += g[(r * tLen + t) * w + block * n + j] }
                }
            }
        }
        return out
    }
}

/// `mesa analyze sensitivity RUN` (SPEC §5.7): S[t, t'] on `sequences` test sequences of the run's
/// length. Writes RUN/analysis/sensitivity/: sensitivity.csv (the T × T matrix), a heat map of it
/// and of each row divided by its sum (where in the past position t reads), lags.csv and summary.md.
public struct SensitivityAnalysis {
    /// Means over positions t ≥ 4 of S[t, t − lag], and the largest S above the diagonal.
    public struct Summary: Equatable {
        public var byLag: [Double]   // lag 0, 1, 2, and ≥ 3 (mean over those t')
        public var aboveDiagonal: Double
    }

    public let trained: LoadedRun
    public let sequences: Int

    public init(_ trained: LoadedRun, sequences: Int = 16) throws {
        guard sequences >= 1 else { throw AnalysisError.badOption("--sequences must be at least 1") }
        self.trained = trained
        self.sequences = sequences
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "sensitivity") }

    public func measure() throws -> [Double] {
        let c = trained.config
        let test = try c.task.makeTask(seed: c.seed).batch(size: sequences, length: c.length, seed: c.seed,
                                                          purpose: .testBatch, dtype: .float64)
        return Sensitivity.measure(model: trained.model, states: test.inputs, tokens: c.tokens)
    }

    public static func summarize(_ s: [Double], length tLen: Int) -> Summary {
        var lags = [Double](repeating: 0, count: 4), counts = lags, above = 0.0
        for t in 0..<tLen {
            for tp in 0..<tLen {
                if tp > t { above = max(above, s[t * tLen + tp]); continue }
                guard t >= 3 else { continue }
                let lag = min(t - tp, 3)
                lags[lag] += s[t * tLen + tp]
                counts[lag] += 1
            }
        }
        return Summary(byLag: zip(lags, counts).map { $1 > 0 ? $0 / $1 : .nan }, aboveDiagonal: above)
    }

    @discardableResult
    public func run() throws -> Summary {
        let c = trained.config, tLen = c.length
        let s = try measure()
        let summary = Self.summarize(s, length: tLen)
        try AnalysisFolder.write(trained.directory, name: "sensitivity") { out in
            let rowSums = (0..<tLen).map { t in (0..<tLen).reduce(0) { $0 + s[t * tLen + $1] } }
            let shares = (0..<(tLen * tLen)).map { rowSums[$0 / tLen] > 0 ? s[$0] / rowSums[$0 / tLen] : 0 }
            try Figures.heatmaps([
                HeatmapPanel(title: "||df_t/ds_t'|| (row t, column t')", values: s, rows: tLen, cols: tLen,
                             csv: out.appendingPathComponent("sensitivity.csv")),
                HeatmapPanel(title: "share of row t", values: shares, rows: tLen, cols: tLen,
                             csv: out.appendingPathComponent("sensitivity_share.csv")),
            ], layout: (1, 2), block: nil, title: "\(c.preset), step \(trained.step): sensitivity over \(sequences) test sequences",
               to: out.appendingPathComponent("sensitivity"))
            try CSV.write(header: ["lag", "mean_sensitivity"],
                          rows: summary.byLag.enumerated().map { [Double($0.offset), $0.element] }, to: out.appendingPathComponent("lags.csv"))
            try AtomicFile.write("""
            # Sensitivity: \(c.preset), step \(trained.step)

            S[t, t'] = mean over \(sequences) test sequences (length \(tLen)) of the Frobenius norm of the Jacobian
            ∂f_t/∂s_{t'} of the prediction at t with respect to the state at t' (SPEC §5.7), by reverse mode in Double.
            Mean over positions t ≥ 4 (`lags.csv`; the full matrix in `sensitivity.csv`):

            | lag t − t' | 0 | 1 | 2 | ≥ 3 (mean per t') |
            |---|---|---|---|---|
            | S | \(summary.byLag.map { String(format: "%.4g", $0) }.joined(separator: " | ")) |

            Largest S above the diagonal (t' > t; 0 for a causal model): \(String(format: "%.3g", summary.aboveDiagonal)).

            ![sensitivity](sensitivity.png)

            """, to: out.appendingPathComponent("summary.md"))
        }
        return summary
    }
}
