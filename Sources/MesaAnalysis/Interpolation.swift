import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// The interpolation test of SPEC §5.3: a k-layer linear model on constructed tokens whose every
/// layer's products are the average of a free linear layer's and CompressedAlg's,
///
///     W_KᵀW_Q = ½ Σ_h W_K[h]ᵀW_Q[h] ⊕ ½ Σ_{ij} c_{h,ij} E_ij⊗I,   P W_V likewise,
///
/// trained from scratch. Linear attention is linear in each head's products, so the layer is one
/// linear attention with 2H heads: H free heads (d_k = d_v = 4n, as [VO] uses for this test) whose
/// P is halved, and H CompressedAlg heads (W_K = W_V = I) whose P is halved. If the model reaches
/// the free model's loss, the compressed algorithm is compatible with what the model learns.
public final class InterpolatedObjective: TrainingObjective {
    public let compressed: CompressedAlgorithmObjective
    /// Per layer: W_Q, W_K, W_V [H·4n, 4n] and P [4n, H·4n] of the free heads.
    public let free: [(wq: Variable, wk: Variable, wv: Variable, p: Variable)]
    let heads: Int, n: Int

    public init(layers: Int, heads: Int, dimension n: Int, tokens: TokenConstruction, activationClip: Double?,
                initStd: Double, compressedInitStd: Double, seed: UInt64, dtype: DType = .float32) {
        compressed = CompressedAlgorithmObjective(layers: layers, heads: heads, dimension: n, tokens: tokens,
                                                  activationClip: activationClip, initStd: compressedInitStd,
                                                  seed: seed &+ 1, dtype: dtype)
        var draw = ParameterInitializer(seed: seed, dtype: dtype)
        let w = 4 * n
        free = (0..<layers).map { _ in
            (draw.normal([heads * w, w], std: initStd), draw.normal([heads * w, w], std: initStd),
             draw.normal([heads * w, w], std: initStd), draw.normal([w, heads * w], std: initStd))
        }
        self.heads = heads
        self.n = n
    }

    public var parameters: [NamedParameter] {
        free.enumerated().flatMap { l, f in
            [NamedParameter("layers.\(l).W_Q", f.wq), NamedParameter("layers.\(l).W_K", f.wk),
             NamedParameter("layers.\(l).W_V", f.wv), NamedParameter("layers.\(l).P", f.p)]
        } + compressed.parameters.map { NamedParameter("compressed." + $0.name, $0.variable, decays: false) }
    }

    /// Rows of a stacked on rows of b (both [·, c]).
    func stacked(_ a: Variable, _ b: Variable) -> Variable {
        let c = a.shape[1]
        return reshaped(concatColumns([reshaped(a, [1, a.value.count]), reshaped(b, [1, b.value.count])]),
                        [a.shape[0] + b.shape[0], c])
    }

    /// Predictions [B, T, n] from states [B, T, n].
    public func predictions(_ states: Tensor) -> Variable {
        let c = compressed
        var e = Variable(c.tokens.tokens(from: states.converted(to: free[0].wq.dtype)))     // (B, T, 4n)
        let spec = AttentionSpec(kind: .linear, heads: 2 * heads)
        for (l, f) in free.enumerated() {
            let (wqC, pC) = c.layerWeights(l)                                               // (H·4n, 4n), (4n, H·4n)
            let wq = stacked(f.wq, wqC), wk = stacked(f.wk, c.identities), wv = stacked(f.wv, c.identities)
            let p = concatColumns([0.5 * f.p, 0.5 * pC])                                    // (4n, 2H·4n)
            e = e + attentionLayer(spec, e, queryKeyInput: e, wq: wq, wk: wk, wv: wv, p: p)
            if let clipValue = c.activationClip { e = clip(e, clipValue) }
        }
        return columns(e, 0..<n)                                                             // (B, T, n)
    }

    public func loss(on batch: SequenceBatch) -> Variable {
        halfSquaredError(predictions(batch.inputs), batch.targets, weights: batch.lossMask)
    }

    /// Trains the interpolated model with `config`'s task, batches, schedule and optimizer and the
    /// linear-k model's depth, heads, tokens and clipping; returns the held-out mean loss.
    public static func train(config: TrainConfig, compressedInitStd: Double = 1e-3) throws -> Double {
        let m = config.model
        let objective = InterpolatedObjective(layers: m.layers.count, heads: m.heads, dimension: config.task.dimension,
                                              tokens: config.tokens, activationClip: m.activationClip, initStd: m.initStd,
                                              compressedInitStd: compressedInitStd, seed: config.seed)
        var small = m
        small.layers = [.linear]
        let trainer = try Trainer(config: config, model: try Transformer(config: small, seed: config.seed), objective: objective)
        for _ in 0..<config.steps { _ = try trainer.trainStep() }
        return trainer.evaluate()
    }
}
