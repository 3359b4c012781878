import Testing
import MesaTensor
import MesaNN

/// Without gradients (evaluation) the fused attention keeps no attention weights for a backward
/// (issue 14), and its [Q K V E] and O rows live one tile at a time in a worker's buffer; the
/// output must be the very bytes of the forward that keeps them all. 120 sequences of 11 are three
/// tiles of the attention layer (46, 46 and 28 sequences).
@Suite struct EvaluationForwardTests {
    @Test(arguments: [DType.float32, .float64], [5, 120])
    func forwardWithoutGradientsIsTheTrainingForward(dtype: DType, batch: Int) throws {
        let config = ModelConfig(dimension: 3, width: 8, embedding: true, layers: [.softmax, .linear, .mesa, .softmax],
                                 heads: 2, keySize: 4, activationClip: 4, layerNorm: true, mlp: true, mlpHidden: 12,
                                 positionalEncoding: 4, initStd: 0.3)
        let model = try Transformer(config: config, seed: 4, dtype: dtype)
        var stream = RandomStream(seed: 8, purpose: .experiment)
        let tokens = Tensor.normal(shape: [batch, 11, 3], std: 1, dtype: dtype, stream: &stream)
        let training = model(tokens).value.doubles
        let evaluation = Variable.withoutGradients { model(tokens).value.doubles }
        #expect(training.map(\.bitPattern) == evaluation.map(\.bitPattern))
    }
}
