import MesaNN
import MesaTasks

/// The reference configurations of SPEC §2/§3, by name. `mesa train --preset NAME` starts
/// from one; flags and `--set field=value` change any field.
public enum Presets {
    public static let names = ["linear-1", "linear-2", "linear-4", "linear-6"]

    public static func config(_ name: String) throws -> TrainConfig {
        let n = 10
        switch name {
        case "linear-1":
            // [VO] §3's one-layer model: masked constructed tokens [0, 0, s_t, s_{t−1}], 2 heads.
            // It leaves the plateau of its tiny initialization within ~250 steps at this rate;
            // the cosine then anneals over the run so the weights settle (horizon = steps).
            let model = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear],
                                    heads: 2, keySize: 20, initStd: 2e-4)
            return TrainConfig(preset: name, tokens: .constructedMasked, model: model, steps: 3000,
                               schedule: WarmupCosineSchedule(peak: 1e-3, warmupSteps: 200, horizon: 2800))
        case "linear-2", "linear-4", "linear-6":
            let depth = Int(name.dropFirst("linear-".count))!
            let model = ModelConfig(dimension: n, width: 4 * n, embedding: false,
                                    layers: Array(repeating: .linear, count: depth), heads: 4, keySize: 20,
                                    activationClip: 1.5, initStd: 2e-4)
            return TrainConfig(preset: name, tokens: .constructed, model: model, steps: 2000,
                               schedule: WarmupCosineSchedule(peak: 3e-4, warmupSteps: 1000, horizon: 20_000))
        default:
            throw ConfigError.unknownPreset(name, names)
        }
    }
}
