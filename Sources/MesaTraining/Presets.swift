import MesaNN
import MesaTasks

/// The reference configurations of SPEC §2/§3, by name. `mesa train --preset NAME` starts
/// from one; flags and `--set field=value` change any field.
public enum Presets {
    /// SPEC §3's reference schedule: linear warm-up over 1000 steps to 3e-4, then cosine decay
    /// reaching 1e-5 at step 20 000 whatever the run length (the reference code's decay_steps
    /// count the warm-up, so the cosine itself spans 19 000 steps).
    public static let referenceSchedule = WarmupCosineSchedule(peak: 3e-4, warmupSteps: 1000, horizon: 19_000, final: 1e-5)

    /// The reference code's architecture switches, in every configuration: activations clipped
    /// to ±1.5 after every block, no LayerNorm between the last block and the read-out, LayerNorm ε 1e-6.
    static func reference(_ m: ModelConfig) -> ModelConfig {
        var m = m
        m.activationClip = 1.5
        m.readoutNorm = false
        m.layerNormEpsilon = 1e-6
        return m
    }

    /// Named presets; `linear-deep-K` works for any K ≥ 1 (K linear layers after one softmax).
    public static let names = ["linear-1", "linear-2", "linear-4", "linear-6", "softmax-7", "hybrid-mesa", "full-mesa",
                               "linear-deep-2", "linear-deep-4", "linear-deep-6"]

    /// The preset `name`, with the vectorized normal sampler where its task has one
    /// (`TaskConfig.defaultNormals`; config.json records it).
    public static func config(_ name: String) throws -> TrainConfig {
        var c = try referenceConfig(name)
        c.task.normals = TaskConfig.defaultNormals(for: c.task.kind)
        return c
    }

    static func referenceConfig(_ name: String) throws -> TrainConfig {
        let n = 10
        /// SPEC §2's models on unconstructed tokens: a dense n → D embedding, pre-LayerNorm
        /// blocks with GELU MLPs (hidden 4D), a sinusoidal positional encoding (width 40) on the
        /// first layer's queries and keys, a dense D → n read-out; init N(0, 0.05²).
        func unconstructed(_ name: String, layers: [LayerKind]) -> TrainConfig {
            let model = ModelConfig(dimension: n, width: 40, embedding: true, layers: layers, heads: 4, keySize: 20,
                                    layerNorm: true, mlp: true, positionalEncoding: 40, initStd: 0.05)
            return TrainConfig(preset: name, tokens: .raw, model: reference(model), steps: 5000, schedule: referenceSchedule)
        }
        switch name {
        case "linear-1":
            // [VO] §3's one-layer model: masked constructed tokens [0, 0, s_t, s_{t−1}], 2 heads.
            let model = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear],
                                    heads: 2, keySize: 20, initStd: 2e-4)
            return TrainConfig(preset: name, tokens: .constructedMasked, model: reference(model), steps: 3000,
                               schedule: referenceSchedule)
        case "linear-2", "linear-4", "linear-6":
            let depth = Int(name.dropFirst("linear-".count))!
            let model = ModelConfig(dimension: n, width: 4 * n, embedding: false,
                                    layers: Array(repeating: .linear, count: depth), heads: 4, keySize: 20,
                                    initStd: 2e-4)
            // linear-2 steps in micro-batches of 16 sequences: what one of them keeps for its
            // backward (~4 MiB) stays in the caches a core gets here (~4–8 MiB), and its step
            // runs 5–14% faster than in pieces of 64 (BENCHMARKS.md, "Stop 20"). Deeper models keep
            // more per sequence and measured no gain.
            return TrainConfig(preset: name, tokens: .constructed, model: reference(model), steps: 2000,
                               schedule: referenceSchedule, microBatches: depth == 2 ? 16 : TrainConfig.defaultMicroBatches)
        case "softmax-7":
            return unconstructed(name, layers: Array(repeating: .softmax, count: 7))
        case "hybrid-mesa":
            return unconstructed(name, layers: [.softmax, .mesa])
        case "full-mesa":
            return unconstructed(name, layers: [.mesa, .mesa])
        case _ where name.hasPrefix("linear-deep-"):
            guard let k = Int(name.dropFirst("linear-deep-".count)), k >= 1, k <= 64 else {
                throw ConfigError.unknownPreset(name, names)
            }
            return unconstructed(name, layers: [.softmax] + Array(repeating: .linear, count: k))
        default:
            throw ConfigError.unknownPreset(name, names)
        }
    }
}
