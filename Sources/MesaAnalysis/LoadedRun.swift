import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// A trained run read back for analysis (SPEC §5): its configuration, the model with the
/// checkpoint's parameters, and the step the checkpoint was written at. Analyses start here and
/// never reach into the trainer: what they see is exactly what the run directory holds.
public struct LoadedRun {
    public let directory: RunDirectory
    public let config: TrainConfig
    public let model: Transformer
    /// The training step of the checkpoint (0 when the checkpoint does not say).
    public let step: Int

    /// Reads config.json and checkpoint.safetensors. Analyses compare against Double baselines,
    /// hence the `.float64` default: the Float32 parameters widen exactly.
    public init(directory: RunDirectory, dtype: DType = .float64) throws {
        self.directory = directory
        config = try directory.readConfig()
        guard config.task.kind != "text" else {
            throw TrainingError.noRun("\(directory.url.path) holds a language model (task.kind text): use mesa lm eval / mesa lm sample")
        }
        guard directory.hasCheckpoint else {
            throw TrainingError.noRun("\(directory.url.path) has no checkpoint.safetensors yet")
        }
        let checkpoint = try directory.readCheckpoint()
        model = try Transformer(config: config.model, seed: config.seed, dtype: dtype)
        try model.load(checkpoint.tensors)
        step = Int(checkpoint.metadata["step"] ?? "") ?? 0
    }
}
