import MesaNN
import MesaTensor

/// Linear probes of the residual stream (SPEC §5.4; [VO] §3.2): one least-squares probe per
/// site (the embedding, then after every attention and MLP sublayer) and position, fitted on one
/// held-out set and scored on another, for the targets of `ProbeTarget`. The preconditioned
/// token's λ is line-searched on the fitting set (in-sample R² of the best site), so the scoring
/// set is never used to choose anything.
public enum ResidualProbes {
    /// R² and MSE by site, target and position (index t−1), with the λ chosen.
    public struct Result: Codable, Equatable {
        public var sites: [String]
        public var targets: [String]
        public var positions: Int
        public var lambda: Double
        public var lambdaGrid: [Double]
        /// [site][target][position]; NaN (null in JSON) where the target does not vary.
        public var r2: [[[Double]]]
        public var mse: [[[Double]]]

        /// Mean over positions `from`…T (1-based) of R², skipping NaN.
        public func meanR2(site: String, target: String, from: Int = 2) -> Double {
            guard let s = sites.firstIndex(of: site), let k = targets.firstIndex(of: target) else { return .nan }
            let v = r2[s][k][(from - 1)...].filter { $0.isFinite }
            return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
        }
    }

    public static let defaultLambdas: [Double] = [0.01, 0.1, 1, 10]

    /// The residual-stream sites of a model, in depth order: `embedding`, then
    /// `layers.i.after_attention` and `layers.i.after_mlp` (when the block has an MLP).
    public static func sites(of model: Transformer, layers: [Int]? = nil) -> [String] {
        ["embedding"] + (layers ?? Array(model.blocks.indices)).flatMap { i in
            ["layers.\(i).after_attention"] + (model.blocks[i].mlp != nil ? ["layers.\(i).after_mlp"] : [])
        }
    }

    /// A short label: "embedding", "L1 attn", "L1 mlp".
    public static func label(_ site: String) -> String {
        let parts = site.split(separator: ".")
        guard parts.count == 3, let i = Int(parts[1]) else { return site }
        return "L\(i + 1) " + (parts[2] == "after_attention" ? "attn" : "mlp")
    }

    /// Fits on (`fitTokens`, `fitStates`) and scores on (`scoreTokens`, `scoreStates`); the
    /// model runs `chunk` sequences at a time, so memory stays small at 2 × 2048 sequences.
    public static func measure(model: Transformer, sites: [String], fitTokens: Tensor, fitStates: StateSequences,
                               scoreTokens: Tensor, scoreStates: StateSequences,
                               lambdas: [Double] = defaultLambdas, chunk: Int = 256) -> Result {
        let targets = ProbeTarget.tokenTargets + lambdas.map { ProbeTarget.preconditioned(lambda: $0) }
        let n = fitStates.dimension, tLen = fitStates.length, width = n * targets.count
        let blocks = targets.indices.map { ($0 * n)..<(($0 + 1) * n) }

        // Fit: Gram matrices per site and position, then W = G⁻¹C.
        let fitY = targets.map { $0.values(fitStates) }
        var grams: [[ProbeGram]] = []
        forEachChunk(model: model, tokens: fitTokens, sites: sites, chunk: chunk) { range, activations in
            if grams.isEmpty { grams = activations.map { a in (0..<tLen).map { _ in ProbeGram(features: a.shape[2], outputs: width) } } }
            for p in 0..<tLen {
                let y = rows(fitY, range: range, position: p, length: tLen, n: n)
                for s in sites.indices { grams[s][p].add(position(activations[s], p), y) }
            }
        }
        let weights = grams.map { $0.map { $0.solve() } }

        // λ: the grid point whose probe reads best (in-sample, on the fitting set) at its best site.
        var lambdaIndex = 0, best = -Double.infinity
        for (l, _) in lambdas.enumerated() {
            let block = blocks[ProbeTarget.tokenTargets.count + l]
            let bestSite = sites.indices.map { s in
                (1..<tLen).map { p -> Double in
                    let rss = grams[s][p].residualSquares(weights[s][p]), tss = grams[s][p].totalSquares
                    return ProbeScore.r2(rss: block.reduce(0) { $0 + rss[$1] }, tss: block.reduce(0) { $0 + tss[$1] })
                }.filter(\.isFinite).reduce(0, +)
            }.max() ?? -.infinity
            if bestSite > best { best = bestSite; lambdaIndex = l }
        }

        // Score on the other set.
        let scoreY = targets.map { $0.values(scoreStates) }
        var scores = sites.map { _ in (0..<tLen).map { _ in ProbeScore(outputs: width) } }
        forEachChunk(model: model, tokens: scoreTokens, sites: sites, chunk: chunk) { range, activations in
            for p in 0..<tLen {
                let y = rows(scoreY, range: range, position: p, length: tLen, n: n)
                for s in sites.indices { scores[s][p].add(position(activations[s], p), y, weights: weights[s][p]) }
            }
        }
        let reported = Array(blocks.prefix(ProbeTarget.tokenTargets.count)) + [blocks[ProbeTarget.tokenTargets.count + lambdaIndex]]
        return Result(sites: sites, targets: (ProbeTarget.tokenTargets + [.preconditioned(lambda: lambdas[lambdaIndex])]).map(\.name),
                      positions: tLen, lambda: lambdas[lambdaIndex], lambdaGrid: lambdas,
                      r2: scores.map { perPosition in reported.map { b in perPosition.map { $0.r2(b) } } },
                      mse: scores.map { perPosition in reported.map { b in perPosition.map { $0.mse(b) } } })
    }

    /// Runs the model over `tokens` [B, T, ·] `chunk` sequences at a time and hands over the
    /// traced sites [b, T, D] of each chunk.
    static func forEachChunk(model: Transformer, tokens: Tensor, sites: [String], chunk: Int,
                             _ body: (Range<Int>, [Tensor]) -> Void) {
        let (bSize, tLen, w) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let all = tokens.doubles
        for start in stride(from: 0, to: bSize, by: chunk) {
            let range = start..<min(start + chunk, bSize)
            let part = Tensor(shape: [range.count, tLen, w], Array(all[(start * tLen * w)..<(range.upperBound * tLen * w)]),
                              dtype: tokens.dtype)
            let trace = ForwardTrace(capturing: sites)
            Variable.withoutGradients { _ = model(part, trace: trace) }
            body(range, sites.map { trace[$0]!.converted(to: .float64) })
        }
    }

    /// Rows of position p of a [b, T, D] tensor: [b, D].
    static func position(_ a: Tensor, _ p: Int) -> Tensor {
        let (b, tLen, d) = (a.shape[0], a.shape[1], a.shape[2])
        return a.withUnsafeBufferPointer(as: Double.self) { src in
            Tensor(shape: [b, d], of: Double.self) { dst in
                for i in 0..<b { for j in 0..<d { dst[i * d + j] = src[(i * tLen + p) * d + j] } }
            }
        }
    }

    /// The targets of sequences `range` at position p side by side: [b, n·K].
    static func rows(_ values: [[Double]], range: Range<Int>, position p: Int, length tLen: Int, n: Int) -> Tensor {
        let k = values.count
        return Tensor(shape: [range.count, n * k], of: Double.self) { dst in
            for (r, b) in range.enumerated() {
                for (t, v) in values.enumerated() {
                    for i in 0..<n { dst[r * n * k + t * n + i] = v[(b * tLen + p) * n + i] }
                }
            }
        }
    }
}
