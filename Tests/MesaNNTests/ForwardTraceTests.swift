import Foundation
import Testing
import MesaTensor
import MesaNN

/// `ForwardTrace`: the intermediates a researcher asks for, by name, from the one forward.
@Suite struct ForwardTraceTests {
    /// A softmax layer, then a forgetting mesa-layer, with LayerNorm, MLPs and a positional
    /// encoding: every kind of intermediate.
    static let config = ModelConfig(dimension: 2, width: 6, embedding: true, layers: [.softmax, .mesa],
                                    heads: 2, keySize: 3, valueSize: 2, activationClip: 4, layerNorm: true, mlp: true,
                                    mlpHidden: 8, positionalEncoding: 4, initStd: 0.4, mesaForget: 0.9)

    func traced(_ patterns: [String]) throws -> (Transformer, Tensor, ForwardTrace, Tensor) {
        let model = try Transformer(config: Self.config, seed: 5, dtype: .float64)
        let tokens = randomTensor([3, 7, 2], seed: 6)
        let trace = ForwardTrace(capturing: patterns)
        let out = model(tokens, trace: trace).value
        return (model, tokens, trace, out)
    }

    @Test func tracingChangesNothingAndRecordsEveryName() throws {
        let (model, tokens, trace, out) = try traced(["*", "layers.*.*"])
        #expect(out.doubles == model(tokens).value.doubles)
        #expect(Set(trace.values.keys) == Set(model.traceableNames))
        #expect(trace["output"]!.doubles == out.doubles)
        #expect(trace["layers.1.q_tilde"]!.shape == [3, 7, 6] && trace["layers.0.weights"]!.shape == [3, 2, 7, 7])
    }

    @Test func onlyWhatIsAskedForIsRecorded() throws {
        let (_, _, trace, _) = try traced(["layers.1.q", "embedding"])
        #expect(Set(trace.values.keys) == ["layers.1.q", "embedding"])
    }

    /// The recorded pieces compose to the sublayer: residuals add up, q is the projection of
    /// the attention input, the weights mix the values into the head outputs, and the
    /// mesa-layer's q̃_t solves (Σ_{t'≤t} γ^{t−t'} k kᵀ + γ^t I/λ) q̃_t = q_t.
    @Test func recordedPiecesComposeToTheForward() throws {
        let (model, _, trace, _) = try traced(["*", "layers.*.*"])
        let (b, t, d, heads, dk, dv) = (3, 7, 6, 2, 3, 2)
        for l in 0..<2 {
            let before = l == 0 ? trace["embedding"]! : trace["layers.0.output"]!
            let sum = before + trace["layers.\(l).attention_output"]!
            #expect(sum.relativeError(to: trace["layers.\(l).after_attention"]!) < 1e-14)
            let a = model.blocks[l].attention
            let h = trace["layers.\(l).attention_input"]!
            let qkInput = l == 0 ? nil : h       // layer 0 also reads the positional encoding
            if let qkInput {
                #expect(matmul(qkInput.reshaped([b * t, d]), transpose(a.query.value)).reshaped([b, t, heads * dk])
                    .relativeError(to: trace["layers.\(l).q"]!) < 1e-13)
            }
            // Σ_{t'} A_{t,t'} v_{t'} per head, projected by P, is the sublayer's output.
            let w = trace["layers.\(l).weights"]!, v = trace["layers.\(l).v"]!
            var o = [Double](repeating: 0, count: b * t * heads * dv)
            for s in 0..<b { for hd in 0..<heads { for q in 0..<t { for j in 0..<dv {
                o[(s * t + q) * heads * dv + hd * dv + j] = (0...q).map { w[s, hd, q, $0] * v[s, $0, hd * dv + j] }.reduce(0, +)
            } } } }
            let y = matmul(Tensor(shape: [b * t, heads * dv], o), transpose(a.projection.value)).reshaped([b, t, d])
            #expect(y.relativeError(to: trace["layers.\(l).attention_output"]!) < 1e-12)
        }
        // q̃ of the mesa-layer (layer 1), head 1, sequence 2, last position.
        let q = trace["layers.1.q"]!, k = trace["layers.1.k"]!, qt = trace["layers.1.q_tilde"]!
        let lambda = model.blocks[1].attention.lambda!.value[1], gamma = 0.9, (s, hd, pos) = (2, 1, 6)
        var gram = Linalg.identity(dk, scale: pow(gamma, Double(pos + 1)) / lambda)
        for tp in 0...pos {
            let w = pow(gamma, Double(pos - tp))
            for i in 0..<dk { for j in 0..<dk { gram[i * dk + j] += w * k[s, tp, hd * dk + i] * k[s, tp, hd * dk + j] } }
        }
        let solved = Linalg.solve(gram, (0..<dk).map { q[s, pos, hd * dk + $0] }, dk, 1)!
        for i in 0..<dk { #expect(abs(solved[i] - qt[s, pos, hd * dk + i]) < 1e-12) }
    }
}
