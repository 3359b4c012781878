import Foundation
import MesaLanguage
import MesaNN
import MesaTensor
import MesaTraining

/// Speed of the language models (`mesa lm bench`, BENCHMARKS.md): training and sampling
/// tokens per second for each F8 model, and the attention sublayers' forward + backward time
/// as the context grows. Models (and kinds) are measured interleaved, one of each per
/// repetition, so a slow stretch of the shared machine affects all alike; figures are medians.
public enum LMBenchmark {
    public struct ModelRow {
        public let preset: String
        public let stepSeconds: [Double]
        public let tokensPerStep: Int
        /// Multiply-adds of the projections, MLPs and read-out per token (attention cores aside).
        public let denseMACsPerToken: Double
        public let sampleTokensPerSecond: Double
        public var medianStep: Double { stepSeconds.sorted()[stepSeconds.count / 2] }
        public var trainTokensPerSecond: Double { Double(tokensPerStep) / medianStep }
        /// Dense training FLOP/s: 2 FLOPs per multiply-add, forward + backward = 3 × forward.
        public var denseGFLOPs: Double { 6 * denseMACsPerToken * Double(tokensPerStep) / medianStep / 1e9 }
    }

    public static func denseMACsPerToken(_ m: ModelConfig) -> Double {
        let (d, h, dk, dv) = (Double(m.width), Double(m.heads), Double(m.keySize), Double(m.valueSize))
        var macs = Double(m.dimension) * d                                   // read-out
        for i in m.layers.indices {
            let qkWidth = d + (i == 0 ? Double(m.positionalEncoding) : 0)
            macs += 2 * qkWidth * h * dk + 2 * d * h * dv                  // W_Q, W_K, W_V, P
            if m.mlp { macs += 2 * d * Double(m.mlpHidden) }
        }
        return macs
    }

    public static func models(corpus paths: [String], presets: [String] = LMPresets.names, batch: Int = 16, length: Int = 256,
                              repeats: Int = 5, warmup: Int = 1, sampleTokens: Int = 200) throws -> [ModelRow] {
        let corpus = try Corpus(paths: paths)
        let settings = corpus.settings(paths: paths, validationFraction: 0.1)
        var trainers: [(String, Trainer, TrainConfig)] = []
        for p in presets {
            var c = try LMPresets.config(p, corpus: settings)
            c.batchSize = batch
            c.length = length
            trainers.append((p, try LanguageModelling.makeTrainer(c), c))
        }
        var times = [[Double]](repeating: [], count: trainers.count)
        for rep in 0..<(warmup + repeats) {
            for (i, t) in trainers.enumerated() {
                let s = try elapsedSeconds { _ = try t.1.trainStep() }
                if rep >= warmup { times[i].append(s) }
            }
        }
        return try trainers.enumerated().map { i, t in
            let model = (t.1.objective as! NextByteObjective).model
            let sampler = try Sampler(model: model, context: t.2.length)
            let prompt = ByteTokenizer.encode("The ")
            let seconds = medianTime(repeats: 3, warmup: 1) {
                _ = try? sampler.generate(prompt: prompt, tokens: min(sampleTokens, t.2.length - prompt.count), settings: .init())
            }.median
            return ModelRow(preset: t.0, stepSeconds: times[i], tokensPerStep: batch * length,
                            denseMACsPerToken: denseMACsPerToken(t.2.model),
                            sampleTokensPerSecond: Double(prompt.count + min(sampleTokens, t.2.length - prompt.count)) / seconds)
        }
    }

    public struct ScalingRow {
        public let kind: LayerKind
        public let length: Int
        public let batch: Int
        public let seconds: Double
    }

    /// One attention sublayer (width 128, 4 heads, d_k = d_v = 32, L2-normalized q and k for
    /// linear and mesa), forward + backward on `tokens` tokens (B = tokens / T) at each context T.
    public static func attentionScaling(lengths: [Int] = [64, 128, 256, 512, 1024], tokens: Int = 4096, repeats: Int = 5,
                                        kinds: [LayerKind] = [.softmax, .linear, .mesa]) -> [ScalingRow] {
        var rows: [ScalingRow] = []
        for t in lengths {
            let b = max(1, tokens / t)
            var stream = RandomStream(seed: 1, purpose: .experiment)
            let x = Variable(Tensor.normal(shape: [b, t, 128], std: 1, dtype: .float32, stream: &stream), requiresGrad: true)
            let r = Tensor.normal(shape: [b, t, 128], std: 1, dtype: .float32, stream: &stream)
            let layers = kinds.map { kind -> SelfAttention in
                var initializer = ParameterInitializer(seed: 0, dtype: .float32)
                return SelfAttention(spec: AttentionSpec(kind: kind, heads: 4, normalizeQueryKey: kind != .softmax), width: 128,
                                     queryKeyWidth: 128, keySize: 32, valueSize: 32, initStd: 0.02, initializer: &initializer)
            }
            var times = [[Double]](repeating: [], count: kinds.count)
            for rep in 0..<(1 + repeats) {
                for (i, layer) in layers.enumerated() {
                    let s = elapsedSeconds {
                        dot(layer(x, queryKeyInput: x), r).backward()
                        x.grad = nil
                        for p in layer.parameters(prefix: "") { p.variable.grad = nil }
                    }
                    if rep > 0 { times[i].append(s) }
                }
            }
            for (i, kind) in kinds.enumerated() {
                rows.append(ScalingRow(kind: kind, length: t, batch: b, seconds: times[i].sorted()[times[i].count / 2]))
            }
        }
        return rows
    }
}
