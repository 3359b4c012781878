import MesaNN
import MesaTasks
import MesaTraining

/// The language models of F8 (SPEC §7–8), scaled to a CPU: byte-level, width 128, 4 heads
/// of d_k = d_v = 32, context 256; pre-LayerNorm blocks, a final LayerNorm, no activation
/// clipping; layer 1 softmax with a sinusoidal positional encoding (width 32) on its
/// queries and keys; linear and mesa layers with L2-normalized queries and keys.
/// `lm-2-KIND`: 2 layers, attention only; `lm-4-KIND`: 4 layers with GELU MLPs (hidden 4D).
public enum LMPresets {
    public static let kinds: [LayerKind] = [.softmax, .linear, .mesa]
    public static let names = [2, 4].flatMap { depth in kinds.map { "lm-\(depth)-\($0.rawValue)" } }

    /// The preset `name` on the corpus `corpus`.
    public static func config(_ name: String, corpus: TextCorpusSettings) throws -> TrainConfig {
        let parts = name.split(separator: "-")
        guard parts.count == 3, parts[0] == "lm", let depth = Int(parts[1]), depth == 2 || depth == 4,
              let kind = kinds.first(where: { $0.rawValue == parts[2] }) else {
            throw ConfigError.unknownPreset(name, names)
        }
        let model = ModelConfig(dimension: ByteTokenizer.vocabularySize, width: 128, embedding: true,
                                layers: [.softmax] + Array(repeating: kind, count: depth - 1), heads: 4, keySize: 32,
                                activationClip: nil, layerNorm: true, readoutNorm: true, layerNormEpsilon: 1e-5,
                                mlp: depth == 4, positionalEncoding: 32, initStd: 0.02, normalizeQueryKey: true)
        let task = TaskConfig(kind: "text", dimension: ByteTokenizer.vocabularySize, noise: 0, text: corpus)
        return TrainConfig(preset: name, seed: 0, task: task, tokens: .raw, model: model, steps: 1000, batchSize: 16,
                           length: 256, schedule: WarmupCosineSchedule(peak: 2e-3, warmupSteps: 100, horizon: 900, final: 1e-4),
                           optimizer: AdamW.Settings(beta1: 0.9, beta2: 0.98, epsilon: 1e-8, weightDecay: 0.05),
                           clipping: .globalNorm(1), evalEvery: 100, evalBatchSize: 64, checkpointEvery: 250,
                           microBatches: 1)  // the next-byte objective trains on the whole batch
    }
}
