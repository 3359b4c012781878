import Foundation
import MesaNN
import MesaTensor

/// Linearization (SPEC §5.6; [VO] §3.3): each softmax layer of a trained model is distilled into
/// a linear attention layer (no softmax, no scaling: Δe_t = Σ_h P_h Σ_{t'≤t} v_{t'} k_{t'}ᵀ q_t) by
/// minimizing ½‖Δe_lin − Δe_softmax‖² given the layer's real input, and swapped in; the model's loss
/// with the swap divided by its own loss says how much the layer needed its softmax.
public enum Linearization {
    /// How the linear layer is fitted: AdamW (no weight decay) on minibatches of the fitting set,
    /// the learning rate decaying by a cosine from `learningRate` to a tenth of it.
    public struct Settings: Codable, Equatable, Sendable {
        public var steps: Int
        public var batchSize: Int
        public var learningRate: Double
        public var seed: UInt64
        public init(steps: Int = 400, batchSize: Int = 64, learningRate: Double = 3e-3, seed: UInt64 = 0) {
            self.steps = steps
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.seed = seed
        }
    }

    /// The linear layer fitted to layer `layer`'s (0-based) attention sublayer on the tokens `tokens`
    /// [B, T, ·], and its relative error ‖Δe_lin − Δe‖² / ‖Δe‖² on `heldOut` tokens.
    public static func distil(_ model: Transformer, layer i: Int, tokens: Tensor, heldOut: Tensor,
                              settings: Settings = Settings()) -> (attention: SelfAttention, relativeError: Double) {
        let c = model.config
        var linearConfig = c
        linearConfig.layers[i] = .linear
        let teacher = model.blocks[i].attention
        var initializer = ParameterInitializer(seed: settings.seed, dtype: model.dtype)
        let student = SelfAttention(spec: linearConfig.attentionSpec(layer: i), width: c.width,
                                    queryKeyWidth: teacher.query.shape[1], keySize: c.keySize, valueSize: c.valueSize,
                                    initStd: c.initStd, initializer: &initializer)
        // The values and the output projection carry over; queries and keys start small, so the
        // layer starts near zero output and learns how much of Σ v kᵀq to let through.
        student.value.assign(teacher.value.value)
        student.projection.assign(teacher.projection.value)
        let (inputs, queryKeyInputs, targets) = layerData(model, layer: i, tokens: tokens)
        let optimizer = AdamW(parameters: student.parameters(prefix: ""), settings: .init(weightDecay: 0))
        let bSize = tokens.shape[0], batch = min(settings.batchSize, bSize)
        for step in 0..<settings.steps {
            let start = (step * batch) % max(bSize - batch + 1, 1)
            let rows = start..<(start + batch)
            let out = student(Variable(inputs.leading(rows)), queryKeyInput: Variable(queryKeyInputs.leading(rows)))
            let loss = halfSquaredError(out, targets.leading(rows))
            loss.backward()
            let progress = Double(step) / Double(max(settings.steps - 1, 1))
            let lr = settings.learningRate * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * progress)))
            optimizer.update(learningRate: lr, clipping: .globalNorm(1))
        }
        let (hx, hqk, target) = layerData(model, layer: i, tokens: heldOut)
        let prediction = Variable.withoutGradients { student(Variable(hx), queryKeyInput: Variable(hqk)).value }
        let err = (prediction - target).sumOfSquares() / max(target.sumOfSquares(), 1e-300)
        return (student, err)
    }

    /// A copy of `model` whose layers `replacements` (0-based) hold the given linear attention.
    public static func swapped(_ model: Transformer, _ replacements: [Int: SelfAttention]) throws -> Transformer {
        var c = model.config
        for i in replacements.keys { c.layers[i] = .linear }
        let copy = try Transformer(config: c, seed: 0, dtype: model.dtype)
        var tensors = model.stateTensors
        for (i, a) in replacements {
            for p in a.parameters(prefix: "layers.\(i).attn.") { tensors[p.name] = p.variable.value }
        }
        try copy.load(tensors)
        return copy
    }

    /// The attention sublayer's input h (after its LayerNorm), its query/key input (h, with the
    /// positional encoding appended in the first layer) and its output Δe, from one traced forward.
    static func layerData(_ model: Transformer, layer i: Int, tokens: Tensor) -> (Tensor, Tensor, Tensor) {
        let trace = ForwardTrace(capturing: ["layers.\(i).attention_input", "layers.\(i).attention_output"])
        Variable.withoutGradients { _ = model(tokens, trace: trace) }
        let h = trace["layers.\(i).attention_input"]!, out = trace["layers.\(i).attention_output"]!
        let pe = model.config.positionalEncoding
        guard i == 0 && pe > 0 else { return (h, h, out) }
        let encoding = model.sinusoidalEncoding(batch: h.shape[0], length: h.shape[1], width: pe)
        let qk = Variable.withoutGradients { concatColumns([Variable(h), Variable(encoding)]).value }
        return (h, qk, out)
    }

}
