import MesaNN
import MesaTensor

/// The plain version of `ResidualProbes.measure` (SPEC §5.4), kept as the reference the fast one
/// is tested against: every (site, position) copied out of each chunk's activations into its own
/// tensor, all λ scored on both sets, nothing in parallel. Same Result, to rounding.
extension ResidualProbes {
    public static func referenceMeasure(model: Transformer, sites: [String], fitTokens: Tensor, fitStates: StateSequences,
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
