import Testing
import MesaTensor
import MesaNN

@Suite struct ModelTests {
    static let constructed = ModelConfig(dimension: 2, width: 8, embedding: false, layers: [.linear, .linear],
                                         heads: 2, keySize: 3, activationClip: 1.5, initStd: 0.3)
    static let unconstructed = ModelConfig(dimension: 2, width: 6, embedding: true, layers: [.softmax, .linear],
                                           heads: 2, keySize: 3, activationClip: 4, layerNorm: true, mlp: true,
                                           mlpHidden: 8, positionalEncoding: 4, initStd: 0.3)
    /// Every option at once: biases, a forgetting mesa-layer, normalized queries and keys.
    static let everything = ModelConfig(dimension: 2, width: 6, embedding: true, layers: [.softmax, .mesa, .linear],
                                        heads: 2, keySize: 3, valueSize: 2, activationClip: 4, layerNorm: true, mlp: true,
                                        mlpHidden: 8, positionalEncoding: 4, initStd: 0.3, mesaForget: 0.9,
                                        normalizeQueryKey: true, biases: true)

    /// The whole model's gradient for every parameter against finite differences.
    @Test(arguments: [constructed, unconstructed, everything])
    func modelGradientMatchesFiniteDifferences(config: ModelConfig) throws {
        let model = try Transformer(config: config, seed: 3, dtype: .float64)
        let tokens = randomTensor([2, 5, config.embedding ? 2 : 8], seed: 9, std: 0.5)
        let target = randomTensor([2, 5, 2], seed: 10)
        let params = model.parameters
        let errors = GradCheck.relativeErrors(parameters: params.map(\.variable)) {
            halfSquaredError(model(tokens), target)
        }
        for (p, e) in zip(params, errors) { #expect(e < 1e-6, "\(p.name): \(e)") }
    }

    @Test func parametersHaveStableNamesAndShapes() throws {
        let model = try Transformer(config: Self.unconstructed, seed: 1)
        let names = model.parameters.map(\.name)
        #expect(names.first == "embed.W" && names.last == "readout.W")
        #expect(names.contains("layers.0.attn.W_Q") && names.contains("layers.1.mlp.2.W"))
        // First layer's queries and keys see the 4-wide positional encoding too.
        #expect(model.blocks[0].attention.query.shape == [6, 10])
        #expect(model.blocks[1].attention.query.shape == [6, 6])
        // Same seed, same initial values.
        let again = try Transformer(config: Self.unconstructed, seed: 1)
        #expect(again.stateTensors["layers.1.attn.W_V"]!.doubles == model.stateTensors["layers.1.attn.W_V"]!.doubles)
    }

    /// The fused attention kernels and the composed reference give the same model.
    @Test func fusedAndComposedModelsAgree() throws {
        let model = try Transformer(config: Self.everything, seed: 5, dtype: .float64)
        let tokens = randomTensor([3, 7, 2], seed: 11, std: 0.5)
        let fused = model(tokens).value
        model.attentionImplementation = .composed
        #expect(model(tokens).value.relativeError(to: fused) < 1e-12)
    }

    @Test func invalidConfigsAreRejected() {
        var c = Self.constructed
        c.layers = []
        #expect(throws: ModelError.self) { try Transformer(config: c, seed: 0) }
        c = Self.constructed
        c.width = 1
        #expect(throws: ModelError.self) { try Transformer(config: c, seed: 0) }
        c = Self.constructed
        c.positionalEncoding = 3
        #expect(throws: ModelError.self) { try Transformer(config: c, seed: 0) }
    }

    @Test func loadRejectsMismatchedCheckpoints() throws {
        let model = try Transformer(config: Self.constructed, seed: 1)
        var state = model.stateTensors
        state["layers.0.attn.W_Q"] = Tensor(zeros: [1, 1], dtype: .float32)
        #expect(throws: ModelError.self) { try model.load(state) }
        state.removeValue(forKey: "layers.0.attn.W_Q")
        #expect(throws: ModelError.self) { try model.load(state) }
    }
}

