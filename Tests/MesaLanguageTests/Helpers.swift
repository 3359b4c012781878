import Foundation
import MesaLanguage
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// The project's own few kilobytes of text (Resources/tiny-corpus.txt).
let tinyCorpusPath: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Resources/tiny-corpus.txt").path

func randomTensor(_ shape: [Int], seed: UInt64, dtype: DType = .float64, std: Double = 1) -> Tensor {
    var s = RandomStream(seed: seed, purpose: .experiment)
    return Tensor.normal(shape: shape, std: std, dtype: dtype, stream: &s)
}

func temporaryDirectory(_ name: String = #function) -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mesa-lm-tests-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small language model configuration: width 16, 2 heads of 4, context `length`.
func tinyModelConfig(_ layers: [LayerKind], mlp: Bool = false, forget: Double = 1, initStd: Double = 0.02) -> ModelConfig {
    ModelConfig(dimension: 256, width: 16, embedding: true, layers: layers, heads: 2, keySize: 4, activationClip: nil,
                layerNorm: true, readoutNorm: true, layerNormEpsilon: 1e-5, mlp: mlp, mlpHidden: 24, positionalEncoding: 8,
                initStd: initStd, mesaForget: forget, normalizeQueryKey: true)
}

/// A tiny LM run on the test corpus: 16-byte context, batch 4.
func tinyRunConfig(_ preset: String = "lm-2-mesa", steps: Int = 20) throws -> TrainConfig {
    let corpus = try Corpus(paths: [tinyCorpusPath])
    var c = try LMPresets.config(preset, corpus: corpus.settings(paths: [tinyCorpusPath], validationFraction: 0.1))
    let layers = c.model.layers
    c.model = tinyModelConfig(layers, mlp: c.model.mlp)
    c.length = 16
    c.batchSize = 4
    c.evalBatchSize = 8
    c.steps = steps
    c.evalEvery = 10
    c.checkpointEvery = 10
    c.schedule = WarmupCosineSchedule(peak: 1e-2, warmupSteps: 2, horizon: steps, final: 1e-3)
    return c
}
