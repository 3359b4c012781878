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
    ///
    /// Each chunk's activations are read in place (position p of a [b, T, D] site is a strided
    /// [b, D] matrix) and accumulated by BLAS into one Gram per (site, position) that serves every
    /// target and every λ; sites run in parallel, each summing its chunks in order, so the result
    /// does not depend on the thread count. Only the chosen λ is scored.
    public static func measure(model: Transformer, sites: [String], fitTokens: Tensor, fitStates: StateSequences,
                               scoreTokens: Tensor, scoreStates: StateSequences,
                               lambdas: [Double] = defaultLambdas, chunk: Int = 512) -> Result {
        let targets = ProbeTarget.tokenTargets + lambdas.map { ProbeTarget.preconditioned(lambda: $0) }
        let n = fitStates.dimension, tLen = fitStates.length, width = n * targets.count
        let blocks = targets.indices.map { ($0 * n)..<(($0 + 1) * n) }

        // Fit: G = XᵀX and C = XᵀY per site and position, then W = G⁻¹C and its in-sample RSS.
        let fitY = interleaved(targets.map { $0.values(fitStates) }, n: n)      // [B, T, n·K]
        var fit: [SiteProbes] = []
        forEachChunk(model: model, tokens: fitTokens, sites: sites, chunk: chunk) { range, activations in
            if fit.isEmpty { fit = activations.map { SiteProbes(positions: tLen, features: $0.shape[2], outputs: width) } }
            let accumulators = fit
            fitY.withUnsafeBufferPointer { y in
                Parallel.forEach(accumulators.count) { s in
                    accumulators[s].accumulate(activations[s], y: y.baseAddress! + range.lowerBound * tLen * width, width: width)
                }
            }
        }
        Parallel.forEach(fit.count) { fit[$0].solve() }

        // λ: the grid point whose probe reads best (in-sample, on the fitting set) at its best site.
        var lambdaIndex = 0, best = -Double.infinity
        for l in lambdas.indices {
            let block = blocks[ProbeTarget.tokenTargets.count + l]
            let bestSite = fit.map { site in
                (1..<tLen).map { p -> Double in
                    let rss = site.inSample[p], tss = site.grams[p].totalSquares
                    return ProbeScore.r2(rss: block.reduce(0) { $0 + rss[$1] }, tss: block.reduce(0) { $0 + tss[$1] })
                }.filter(\.isFinite).reduce(0, +)
            }.max() ?? -.infinity
            if bestSite > best { best = bestSite; lambdaIndex = l }
        }

        // Score the reported targets (the token targets and the chosen λ) on the other set.
        let reported = ProbeTarget.tokenTargets + [.preconditioned(lambda: lambdas[lambdaIndex])]
        let columns = (blocks.prefix(ProbeTarget.tokenTargets.count) + [blocks[ProbeTarget.tokenTargets.count + lambdaIndex]]).flatMap { $0 }
        let scoreWidth = columns.count
        for site in fit { site.selectColumns(columns, of: width) }
        let scoreY = interleaved(reported.map { $0.values(scoreStates) }, n: n)  // [B, T, n·6]
        forEachChunk(model: model, tokens: scoreTokens, sites: sites, chunk: chunk) { range, activations in
            scoreY.withUnsafeBufferPointer { y in
                Parallel.forEach(fit.count) { s in
                    fit[s].score(activations[s], y: y.baseAddress! + range.lowerBound * tLen * scoreWidth, width: scoreWidth)
                }
            }
        }
        let reportedBlocks = reported.indices.map { ($0 * n)..<(($0 + 1) * n) }
        return Result(sites: sites, targets: reported.map(\.name), positions: tLen, lambda: lambdas[lambdaIndex], lambdaGrid: lambdas,
                      r2: fit.map { site in reportedBlocks.map { b in site.scores.map { $0.r2(b) } } },
                      mse: fit.map { site in reportedBlocks.map { b in site.scores.map { $0.mse(b) } } })
    }

    /// Target vectors [B, T, n] side by side: [B, T, n·K], row (b, t) holding target k at k·n.
    static func interleaved(_ values: [[Double]], n: Int) -> [Double] {
        let k = values.count, rows = (values.first?.count ?? 0) / n
        var out = [Double](repeating: 0, count: rows * n * k)
        for r in 0..<rows { for (t, v) in values.enumerated() { for i in 0..<n { out[r * n * k + t * n + i] = v[r * n + i] } } }
        return out
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
}

/// One site's probes, one per position: the Grams, then the weights and their in-sample RSS, then
/// the held-out scores. A class so that parallel sites each mutate their own without touching a
/// shared array.
final class SiteProbes {
    var grams: [ProbeGram]
    var weights: [[Double]] = []
    var inSample: [[Double]] = []
    var scores: [ProbeScore] = []

    init(positions: Int, features: Int, outputs: Int) {
        grams = (0..<positions).map { _ in ProbeGram(features: features, outputs: outputs) }
    }

    /// Adds a chunk: activations [b, T, D] and targets at `y`, rows (b, t) of `width` values.
    func accumulate(_ a: Tensor, y: UnsafePointer<Double>, width: Int) {
        let (b, tLen, d) = (a.shape[0], a.shape[1], a.shape[2])
        a.withUnsafeBufferPointer(as: Double.self) { x in
            for p in 0..<tLen {
                grams[p].add(rows: b, x: x.baseAddress! + p * d, xStride: tLen * d, y: y + p * width, yStride: tLen * width)
            }
        }
    }

    func solve() {
        weights = grams.map { $0.solve() }
        inSample = zip(grams, weights).map { $0.residualSquares($1) }
    }

    /// Keeps the weight columns `columns` (of `width`) and starts the scores over them.
    func selectColumns(_ columns: [Int], of width: Int) {
        weights = weights.map { w in (0..<(w.count / width)).flatMap { a in columns.map { w[a * width + $0] } } }
        scores = grams.map { _ in ProbeScore(outputs: columns.count) }
    }

    func score(_ a: Tensor, y: UnsafePointer<Double>, width: Int) {
        let (b, tLen, d) = (a.shape[0], a.shape[1], a.shape[2])
        a.withUnsafeBufferPointer(as: Double.self) { x in
            for p in 0..<tLen {
                scores[p].add(rows: b, features: d, x: x.baseAddress! + p * d, xStride: tLen * d,
                              y: y + p * width, yStride: tLen * width, weights: weights[p])
            }
        }
    }
}
