import Foundation
import MesaNN
import MesaTasks
import MesaTensor

/// The state of one training run and its step (SPEC §3): fresh batch → model → loss →
/// backward → clipped AdamW update. The batch of step k is drawn from (seed, k) alone,
/// so a resumed run retraces the same numbers.
public final class Trainer {
    public let config: TrainConfig
    public let task: any SequenceTask
    public let model: Transformer
    public let optimizer: AdamW
    /// Number of updates applied so far.
    public var step: Int { optimizer.step }

    public init(config: TrainConfig) throws {
        try config.validate()
        self.config = config
        task = try config.task.makeTask(seed: config.seed)
        model = try Transformer(config: config.model, seed: config.seed, dtype: .float32)
        optimizer = AdamW(parameters: model.parameters, settings: config.optimizer)
    }

    public struct StepResult {
        public let step: Int
        public let loss: Double
        public let gradientNorm: Double
        public let learningRate: Double
    }

    /// The training batch of update number `step` (0-based).
    public func trainingBatch(step: Int) -> SequenceBatch {
        task.batch(size: config.batchSize, length: config.length, seed: config.seed, purpose: .trainingBatch, step: step)
    }

    /// The fixed held-out batch evaluations use.
    public private(set) lazy var testBatch: SequenceBatch =
        task.batch(size: config.evalBatchSize, length: config.length, seed: config.seed, purpose: .testBatch)

    /// One update on the batch of the current step. Throws, without touching the
    /// parameters, when the loss or the gradient is not finite.
    public func trainStep() throws -> StepResult {
        let k = step
        let batch = trainingBatch(step: k)
        return try update(on: batch)
    }

    /// Forward, backward and update on a given batch.
    public func update(on batch: SequenceBatch) throws -> StepResult {
        let k = step
        try checkMesaLambdas(step: k + 1)
        let lossValue: Double
        do {
            let loss = halfSquaredError(model(config.tokens.tokens(from: batch.inputs)), batch.targets)
            lossValue = loss.value.item
            guard lossValue.isFinite else { throw TrainingError.diverged(step: k + 1, what: "loss is \(lossValue)") }
            loss.backward()
        }
        let norm = optimizer.gradientNorm()
        guard norm.isFinite else {
            for p in model.parameters { p.variable.grad = nil }
            throw TrainingError.diverged(step: k + 1, what: "gradient norm is \(norm)")
        }
        let lr = config.schedule(k)
        optimizer.update(learningRate: lr, clipping: config.clipping)
        try checkMesaLambdas(step: k + 1)
        return StepResult(step: k + 1, loss: lossValue, gradientNorm: norm, learningRate: lr)
    }

    /// The mesa-layers' λ must stay positive and finite (R_0 = λI is the inverse of the
    /// regularizer); names the layer and head when one does not.
    func checkMesaLambdas(step: Int) throws {
        for (l, block) in model.blocks.enumerated() {
            guard let lambda = block.attention.lambda else { continue }
            for (h, v) in lambda.value.doubles.enumerated() where !(v > 0 && v.isFinite) {
                throw TrainingError.diverged(step: step, what: "layer \(l + 1) (mesa), head \(h + 1): λ = \(v), which must stay positive and finite")
            }
        }
    }

    /// Mean loss on the held-out batch.
    public func evaluate() -> Double {
        let batch = testBatch
        return Variable.withoutGradients {
            halfSquaredError(model(config.tokens.tokens(from: batch.inputs)), batch.targets).value.item
        }
    }

    // MARK: checkpoints

    /// Model parameters, optimizer moments and the step, as one safetensors file.
    public func checkpoint() -> Safetensors.File {
        var tensors = model.stateTensors
        tensors.merge(optimizer.stateTensors) { a, _ in a }
        return Safetensors.File(tensors: tensors, metadata: ["step": String(step), "format": "mesa-checkpoint-1",
                                                             "config": config.jsonString()])
    }

    /// Restores parameters, moments and step from a checkpoint of this configuration.
    public func restore(from file: Safetensors.File) throws {
        guard let s = file.metadata["step"], let k = Int(s), k >= 0 else {
            throw ModelError.checkpointMismatch("no step in the checkpoint's metadata")
        }
        try model.load(file.tensors)
        try optimizer.load(file.tensors, step: k)
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, what: String)
    case runExists(String)
    case noRun(String)
    case configMismatch(String)

    public var description: String {
        switch self {
        case let .diverged(step, what): return "training diverged at step \(step): \(what)"
        case let .runExists(path):
            return "\(path) already holds a run; pass --resume to continue it, or choose another --out"
        case let .noRun(why): return "cannot resume: \(why)"
        case let .configMismatch(why): return "cannot resume with a different configuration: \(why)"
        }
    }
}
