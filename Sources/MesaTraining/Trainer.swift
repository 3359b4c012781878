import Foundation
import MesaNN
import MesaTasks
import MesaTensor

/// The state of one training run and its step (SPEC §3): fresh batch → model → loss →
/// backward → clipped AdamW update. The batch of step k is drawn from (seed, k) alone,
/// so a resumed run retraces the same numbers.
public final class Trainer {
    public let config: TrainConfig
    /// Where the batches come from: the configuration's sequence task, or a corpus (MesaLanguage).
    public let batches: any BatchSource
    public let model: Transformer
    /// What the updates minimize, and over which parameters.
    public let objective: TrainingObjective
    public let optimizer: AdamW
    /// Number of updates applied so far.
    public var step: Int { optimizer.step }

    /// A fresh model trained on its next-state prediction error over the parameters
    /// `config.trainable` names (all by default).
    public convenience init(config: TrainConfig) throws {
        try config.validate()
        let model = try Transformer(config: config.model, seed: config.seed, dtype: .float32)
        try self.init(config: config, model: model,
                      objective: NextStatePrediction(model: model, tokens: config.tokens, trainable: config.trainable))
    }

    /// Trains `objective` (which may read `model`, frozen or not) with the configuration's
    /// task, batches, schedule and optimizer.
    public convenience init(config: TrainConfig, model: Transformer, objective: TrainingObjective) throws {
        try config.validate()
        try self.init(config: config, model: model, objective: objective,
                      batches: TaskBatches(task: config.task.makeTask(seed: config.seed), config: config))
    }

    /// The same with batches from `batches` (a text corpus: MesaLanguage).
    public init(config: TrainConfig, model: Transformer, objective: TrainingObjective, batches: any BatchSource) throws {
        try config.validate()
        self.config = config
        self.batches = batches
        self.model = model
        self.objective = objective
        optimizer = AdamW(parameters: objective.parameters, settings: config.optimizer)
        evaluationChunk = Trainer.defaultEvaluationChunk(config)
    }

    public struct StepResult {
        public let step: Int
        public let loss: Double
        public let gradientNorm: Double
        public let learningRate: Double
    }

    /// The training batch of update number `step` (0-based).
    public func trainingBatch(step: Int) -> SequenceBatch {
        objective.trainingBatch(step: step) ?? batches.trainingBatch(step: step)
    }

    /// The fixed held-out batch evaluations use.
    public private(set) lazy var testBatch: SequenceBatch = objective.heldOutBatch() ?? batches.testBatch()

    /// One update on the batch of the current step. Throws, without touching the
    /// parameters, when the loss or the gradient is not finite.
    /// The batch of step k + 1 is drawn on another thread while step k runs (it is a pure
    /// function of (seed, k + 1), so the result is the same bytes as drawing it when needed),
    /// unless k + 1 is `config.steps` or beyond.
    public func trainStep() throws -> StepResult {
        let k = step
        let batch: SequenceBatch
        if let next = prefetched, next.step == k { batch = next.wait() } else { batch = trainingBatch(step: k) }
        // Not past the run's last step (a 1-step run would draw a batch nobody uses); a caller
        // that steps on anyway draws the batch when it needs it, the same bytes.
        prefetched = k + 1 < config.steps ? PrefetchedBatch(step: k + 1) { [self] in trainingBatch(step: k + 1) } : nil
        return try update(on: batch)
    }

    private var prefetched: PrefetchedBatch?

    /// Forward, backward and update on a given batch.
    public func update(on batch: SequenceBatch) throws -> StepResult {
        let k = step
        try objective.checkParameters(step: k + 1)
        let lossValue: Double
        if config.microBatches > 1, let split = objective as? MicroBatchObjective {
            lossValue = split.lossAndGradients(on: batch, parts: config.microBatches)
            guard lossValue.isFinite else {
                for p in objective.parameters { p.variable.grad = nil }
                throw TrainingError.diverged(step: k + 1, what: "loss is \(lossValue)")
            }
        } else {
            let loss = objective.loss(on: batch)
            lossValue = loss.value.item
            guard lossValue.isFinite else { throw TrainingError.diverged(step: k + 1, what: "loss is \(lossValue)") }
            loss.backward()
        }
        let norm = optimizer.gradientNorm()
        guard norm.isFinite else {
            for p in objective.parameters { p.variable.grad = nil }
            throw TrainingError.diverged(step: k + 1, what: "gradient norm is \(norm)")
        }
        let lr = config.schedule(k)
        optimizer.update(learningRate: lr, clipping: config.clipping)
        try objective.checkParameters(step: k + 1)
        return StepResult(step: k + 1, loss: lossValue, gradientNorm: norm, learningRate: lr)
    }

    /// Sequences per forward in held-out evaluations (default `defaultEvaluationChunk`). Does not
    /// change the result.
    public var evaluationChunk: Int

    /// A micro-batch's sequences (the batch size over `microBatches`, rounded up): an evaluation
    /// needs no more memory than a step's forward, and its chunks, taken by the cores as they
    /// come free, are as fine as the step's pieces, so that neither core waits long for the
    /// other's last chunk.
    public static func defaultEvaluationChunk(_ config: TrainConfig) -> Int {
        let parts = max(1, config.microBatches)
        return config.batchSize < 1 ? 1 : (config.batchSize - 1) / parts + 1
    }

    /// Mean loss on the held-out batch, `evaluationChunk` sequences at a time (the same bits as
    /// the whole batch at once).
    public func evaluate() -> Double {
        objective.heldOutLoss(on: testBatch, chunk: evaluationChunk)
    }

    // MARK: checkpoints

    /// Model parameters, optimizer moments and the step, as one safetensors file.
    public func checkpoint() -> Safetensors.File {
        var tensors = objective.stateTensors
        tensors.merge(optimizer.stateTensors) { a, _ in a }
        return Safetensors.File(tensors: tensors, metadata: ["step": String(step), "format": "mesa-checkpoint-1",
                                                             "config": config.jsonString()])
    }

    /// Restores parameters, moments and step from a checkpoint of this configuration.
    public func restore(from file: Safetensors.File) throws {
        guard let s = file.metadata["step"], let k = Int(s), k >= 0 else {
            throw ModelError.checkpointMismatch("no step in the checkpoint's metadata")
        }
        try objective.load(file.tensors)
        try optimizer.load(file.tensors, step: k)
    }
}

/// The batches of a training run: the batch of step k a pure function of (seed, k), and one
/// fixed held-out batch.
public protocol BatchSource {
    func trainingBatch(step: Int) -> SequenceBatch
    func testBatch() -> SequenceBatch
}

/// Batches of a synthetic sequence task (SPEC §1) as the configuration sizes them.
public struct TaskBatches: BatchSource {
    public let task: any SequenceTask
    public let config: TrainConfig

    public init(task: any SequenceTask, config: TrainConfig) {
        self.task = task
        self.config = config
    }

    public func trainingBatch(step: Int) -> SequenceBatch {
        task.batch(size: config.batchSize, length: config.length, seed: config.seed, purpose: .trainingBatch, step: step)
    }

    public func testBatch() -> SequenceBatch {
        task.batch(size: config.evalBatchSize, length: config.length, seed: config.seed, purpose: .testBatch)
    }
}

/// A training batch being drawn on a background thread.
final class PrefetchedBatch: @unchecked Sendable {
    let step: Int
    private let done = DispatchSemaphore(value: 0)
    private var batch: SequenceBatch?

    init(step: Int, draw: @escaping () -> SequenceBatch) {
        self.step = step
        nonisolated(unsafe) let draw = draw
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            batch = draw()
            done.signal()
        }
    }

    /// The batch, once drawn (call once).
    func wait() -> SequenceBatch {
        done.wait()
        return batch!
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, what: String)
    case runExists(String)
    case noRun(String)
    case configMismatch(String)
    case locked(String)
    case outOfMemory(needed: Double, available: Double)
    case notADirectory(String)
    case stepsBelowCurrent(requested: Int, current: Int)

    public var description: String {
        switch self {
        case let .diverged(step, what): return "training diverged at step \(step): \(what)"
        case let .runExists(path):
            return "\(path) already holds a run; pass --resume to continue it, or choose another --out"
        case let .noRun(why): return why
        case let .configMismatch(why): return "cannot resume: \(why)"
        case let .locked(path):
            return "\(path) is in use: another mesa process is training there (it holds \(path)/.lock); wait for it or choose another --out"
        case let .outOfMemory(needed, available):
            return "this configuration needs about \(MemoryEstimate.format(needed)) of memory and \(MemoryEstimate.format(available)) "
                + "is available; lower batchSize, evalBatchSize, length, model.heads or model.width"
        case let .notADirectory(path): return "\(path) exists and is not a directory; choose another --out"
        case let .stepsBelowCurrent(requested, current):
            return "--steps \(requested) is below the run's current step \(current); a run cannot be shortened (pass --steps ≥ \(current))"
        }
    }
}
