import Testing
import MesaTensor
import MesaNN

/// What a forward keeps depends on what will follow it: without gradients the softmax weights and the
/// MLP's hidden pre-activations are not kept, and with every parameter frozen the backward skips the
/// weights' products. Neither may change a number: the same bytes come out either way.
@Suite struct InferenceBuffersTests {
    static let config = ModelConfig(dimension: 2, width: 6, embedding: true, layers: [.softmax, .mesa, .linear],
                                    heads: 2, keySize: 3, activationClip: 4, layerNorm: true, mlp: true,
                                    mlpHidden: 8, positionalEncoding: 4, initStd: 0.3)

    @Test(arguments: [DType.float64, .float32])
    func aForwardWithoutGradientsGivesTheSameBytes(dtype: DType) throws {
        let model = try Transformer(config: Self.config, seed: 4, dtype: dtype)
        let tokens = randomTensor([3, 7, 2], seed: 11, std: 0.7)
        let recorded = model(tokens).value
        let plain = Variable.withoutGradients { model(tokens).value }
        #expect(recorded.doubles == plain.doubles)
        // A trace that asks for the weights still gets them without gradients.
        let trace = ForwardTrace(capturing: ["layers.0.weights"])
        _ = Variable.withoutGradients { model(tokens, trace: trace) }
        #expect(trace["layers.0.weights"]?.shape == [3, 2, 7, 7])
    }

    @Test func inputGradientsDoNotDependOnFrozenWeights() throws {
        let model = try Transformer(config: Self.config, seed: 5, dtype: .float64)
        let seed = randomTensor([3, 7, 2], seed: 13)
        func inputGradient() -> [Double] {
            let input = Variable(randomTensor([3, 7, 2], seed: 12, std: 0.7), requiresGrad: true)
            model(input).backward(seed: seed)
            return input.grad!.doubles
        }
        let trained = inputGradient()
        let parameters = model.parameters.map(\.variable)
        for p in parameters { p.setRequiresGrad(false) }
        defer { for p in parameters { p.setRequiresGrad(true) } }
        let frozen = inputGradient()
        #expect(trained == frozen)
        #expect(trained.contains { $0 != 0 })
    }
}
