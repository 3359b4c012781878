import Foundation
import MesaNN

/// Everything that determines a prompt-tuning run (SPEC §6), written to its own config.json:
/// which model (a run directory, its configuration and checkpoint step, so that a model
/// trained further since is noticed), the layout of learned tokens, and the optimization:
/// `steps` of Adam (no weight decay, no clipping) at a constant `learningRate` on batches of
/// `batchSize` fresh few-shot sequences. SPEC §6: 5000 steps, Adam 1e-3, batch 256.
public struct TuneConfig: Codable, Equatable, Sendable {
    /// "eos" or "prefix" (what `mesa tune` was asked for; the layout says what is learned).
    public var kind: String
    /// The model's run directory (absolute path).
    public var model: String
    /// The step of the model's checkpoint when tuning began.
    public var modelStep: Int
    /// The model's configuration (config.json of `model`).
    public var modelConfig: TrainConfig
    public var seed: UInt64
    public var layout: PromptLayout
    /// Standard deviation of the learned tokens' initialization: N(0, I) at 1.
    public var initStd: Double
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Double
    public var evalEvery: Int
    public var evalBatchSize: Int
    public var checkpointEvery: Int
    public var checkpointSeconds: Double

    public static let kinds = ["eos", "prefix"]

    /// SPEC §6's settings for `kind` on a model: an EOS after every pair, or 20 prefix tokens;
    /// pairs fill the model's training length (at least one).
    public init(kind: String, model: String, modelStep: Int, modelConfig: TrainConfig, seed: UInt64? = nil,
                pairs: Int? = nil, prefix: Int = 20, tasks: Int = 1, steps: Int = 5000, batchSize: Int = 256,
                learningRate: Double = 1e-3) {
        self.kind = kind
        self.model = model
        self.modelStep = modelStep
        self.modelConfig = modelConfig
        self.seed = seed ?? modelConfig.seed
        let eos = kind == "eos"
        let perPair = eos ? 3 : 2
        let fill = max((modelConfig.length - (eos ? 0 : prefix)) / (perPair * max(tasks, 1)), 1)
        layout = PromptLayout(prefix: eos ? 0 : prefix, eos: eos, pairs: pairs ?? fill, tasks: tasks)
        initStd = 1
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        evalEvery = 250
        evalBatchSize = 1024
        checkpointEvery = 1000
        checkpointSeconds = 60
    }

    /// Checks every field; the message names the one to change.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        if !Self.kinds.contains(kind) { try fail("kind must be one of \(Self.kinds.joined(separator: ", ")), got '\(kind)'") }
        try layout.validate()
        if layout.learnedRows == 0 { try fail("layout: nothing to learn (layout.prefix = 0 and layout.eos = false)") }
        if kind == "prefix" && layout.prefix < 1 { try fail("layout.prefix (--tokens) must be at least 1 for prefix tuning, got \(layout.prefix)") }
        if !(initStd > 0 && initStd.isFinite) { try fail("initStd must be positive, got \(initStd)") }
        if !(learningRate > 0 && learningRate.isFinite) { try fail("learningRate must be positive, got \(learningRate)") }
        if modelStep < 0 { try fail("modelStep must be ≥ 0, got \(modelStep)") }
        try trainConfig().validate()
    }

    /// The training configuration the `Trainer` runs: the model's, with this run's seed, steps,
    /// batch, sequence length (the layout's), a constant learning rate and Adam without weight
    /// decay or clipping.
    public func trainConfig() -> TrainConfig {
        var c = modelConfig
        c.preset = "tune-\(kind) of \(modelConfig.preset)"
        c.seed = seed
        c.steps = steps
        c.batchSize = batchSize
        c.length = layout.length
        c.schedule = WarmupCosineSchedule(peak: learningRate, warmupSteps: 0, horizon: 0, final: learningRate)
        c.optimizer = AdamW.Settings(weightDecay: 0)
        c.clipping = .none
        c.evalEvery = evalEvery
        c.evalBatchSize = evalBatchSize
        c.checkpointEvery = checkpointEvery
        c.checkpointSeconds = checkpointSeconds
        c.trainable = nil
        c.microBatches = 1  // prompt tuning trains on the whole batch
        return c
    }

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
