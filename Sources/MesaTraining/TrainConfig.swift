import Foundation
import MesaNN
import MesaTasks

/// Everything that determines a training run; written to `config.json` in the run
/// directory, so that every number a run produces traces back to it (SPEC §3).
public struct TrainConfig: Codable, Equatable, Sendable {
    /// The preset this configuration started from (informational).
    public var preset: String
    public var seed: UInt64
    public var task: TaskConfig
    public var tokens: TokenConstruction
    public var model: ModelConfig
    /// Number of optimizer steps.
    public var steps: Int
    public var batchSize: Int
    /// Sequence length T (inputs s_1…s_T, targets s_2…s_{T+1}).
    public var length: Int
    public var schedule: WarmupCosineSchedule
    public var optimizer: AdamW.Settings
    public var clipping: GradientClipping
    /// Evaluate on the fixed held-out batch every this many steps (and at the end).
    public var evalEvery: Int
    public var evalBatchSize: Int
    /// Write the checkpoint every this many steps (and at the end).
    public var checkpointEvery: Int
    /// Also write the checkpoint when this many seconds have passed since the last one, so a
    /// killed slow run loses at most about this much work whatever `checkpointEvery` is.
    public var checkpointSeconds: Double
    /// Names (shell patterns: `layers.1.*`, `*.lambda`) of the parameters to train; the
    /// others stay at their initial values. nil: all.
    public var trainable: [String]?
    /// The batch's gradient is put together from this many consecutive micro-batches, each run
    /// forward and backward on its own (side by side on the cores; MicroBatches.swift): the
    /// same loss bits, the gradient summed over sequences in another order. A config.json
    /// without the field means 1, the whole batch at once, as every run before it trained.
    public var microBatches: Int

    /// `microBatches` of a configuration made now (linear-2's preset sets 16: Presets.swift).
    public static let defaultMicroBatches = 4

    public init(preset: String, seed: UInt64 = 0, task: TaskConfig = TaskConfig(), tokens: TokenConstruction,
                model: ModelConfig, steps: Int, batchSize: Int = 256, length: Int = 50,
                schedule: WarmupCosineSchedule = WarmupCosineSchedule(), optimizer: AdamW.Settings = AdamW.Settings(),
                clipping: GradientClipping = .elementwise(1), evalEvery: Int = 250, evalBatchSize: Int = 1024,
                checkpointEvery: Int = 1000, checkpointSeconds: Double = 60, trainable: [String]? = nil,
                microBatches: Int = TrainConfig.defaultMicroBatches) {
        self.preset = preset
        self.seed = seed
        self.task = task
        self.tokens = tokens
        self.model = model
        self.steps = steps
        self.batchSize = batchSize
        self.length = length
        self.schedule = schedule
        self.optimizer = optimizer
        self.clipping = clipping
        self.evalEvery = evalEvery
        self.evalBatchSize = evalBatchSize
        self.checkpointEvery = checkpointEvery
        self.checkpointSeconds = checkpointSeconds
        self.trainable = trainable
        self.microBatches = microBatches
    }

    private enum CodingKeys: String, CodingKey {
        case preset, seed, task, tokens, model, steps, batchSize, length, schedule, optimizer, clipping
        case evalEvery, evalBatchSize, checkpointEvery, checkpointSeconds, trainable, microBatches
    }

    /// Decodes a configuration; fields added after a run was written take their defaults, so
    /// older run directories still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(String.self, forKey: .preset)
        seed = try c.decode(UInt64.self, forKey: .seed)
        task = try c.decode(TaskConfig.self, forKey: .task)
        tokens = try c.decode(TokenConstruction.self, forKey: .tokens)
        model = try c.decode(ModelConfig.self, forKey: .model)
        steps = try c.decode(Int.self, forKey: .steps)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        length = try c.decode(Int.self, forKey: .length)
        schedule = try c.decode(WarmupCosineSchedule.self, forKey: .schedule)
        optimizer = try c.decode(AdamW.Settings.self, forKey: .optimizer)
        clipping = try c.decode(GradientClipping.self, forKey: .clipping)
        evalEvery = try c.decode(Int.self, forKey: .evalEvery)
        evalBatchSize = try c.decode(Int.self, forKey: .evalBatchSize)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        checkpointSeconds = try c.decodeIfPresent(Double.self, forKey: .checkpointSeconds) ?? 60
        trainable = try c.decodeIfPresent([String].self, forKey: .trainable)
        microBatches = try c.decodeIfPresent(Int.self, forKey: .microBatches) ?? 1
    }

    /// Checks every field and how they fit together; the message names what to change.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        if task.kind == "text" { try task.validateText() } else { _ = try task.makeTask(seed: seed) }
        try model.validate()
        if steps < 0 { try fail("steps must be ≥ 0, got \(steps)") }
        if batchSize <= 0 { try fail("batchSize must be positive, got \(batchSize)") }
        if length <= 0 { try fail("length must be positive, got \(length)") }
        if evalEvery <= 0 { try fail("evalEvery must be positive, got \(evalEvery)") }
        if checkpointEvery <= 0 { try fail("checkpointEvery must be positive, got \(checkpointEvery)") }
        if evalBatchSize <= 0 { try fail("evalBatchSize must be positive, got \(evalBatchSize)") }
        if microBatches <= 0 { try fail("microBatches must be positive (1: the whole batch at once), got \(microBatches)") }
        if !(checkpointSeconds > 0) { try fail("checkpointSeconds must be positive, got \(checkpointSeconds)") }
        if !(schedule.peak > 0 && schedule.peak.isFinite) { try fail("schedule.peak (learning rate) must be positive, got \(schedule.peak)") }
        if schedule.warmupSteps < 0 { try fail("schedule.warmupSteps must be ≥ 0, got \(schedule.warmupSteps)") }
        if schedule.horizon < 0 { try fail("schedule.horizon must be ≥ 0, got \(schedule.horizon)") }
        if !(schedule.final >= 0 && schedule.final <= schedule.peak) {
            try fail("schedule.final must lie in [0, schedule.peak = \(schedule.peak)], got \(schedule.final)")
        }
        if !(optimizer.beta1 >= 0 && optimizer.beta1 < 1) { try fail("optimizer.beta1 must lie in [0, 1), got \(optimizer.beta1)") }
        if !(optimizer.beta2 >= 0 && optimizer.beta2 < 1) { try fail("optimizer.beta2 must lie in [0, 1), got \(optimizer.beta2)") }
        if !(optimizer.epsilon > 0 && optimizer.epsilon.isFinite) { try fail("optimizer.epsilon must be positive, got \(optimizer.epsilon)") }
        if !(optimizer.weightDecay >= 0 && optimizer.weightDecay.isFinite) {
            try fail("optimizer.weightDecay must be ≥ 0, got \(optimizer.weightDecay)")
        }
        switch clipping {
        case .none: break
        case let .elementwise(c), let .globalNorm(c):
            if !(c > 0 && c.isFinite) { try fail("clipping.value must be positive (the largest gradient allowed), got \(c)") }
        }
        if model.dimension != task.dimension {
            try fail("model.dimension \(model.dimension) differs from task.dimension \(task.dimension)")
        }
        switch tokens {
        case .raw:
            if !model.embedding { try fail("raw tokens need model.embedding = true") }
        case .constructed, .constructedMasked:
            if model.embedding { try fail("constructed tokens are fed directly: model.embedding must be false") }
            // Compared as width / 4 so that a huge task.dimension cannot overflow 4n.
            if model.width % 4 != 0 || model.width / 4 != task.dimension {
                try fail("constructed tokens have width 4n (n = task.dimension = \(task.dimension)); model.width is \(model.width)")
            }
            if model.positionalEncoding != 0 { try fail("the positional encoding is for raw tokens only") }
        }
    }

    /// Returns a copy with `path` (dotted, e.g. "model.heads" or "schedule.peak") set to
    /// `value` (parsed as JSON when it parses, else taken as a string).
    public func setting(_ path: String, to value: String) throws -> TrainConfig {
        let keys = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.contains(where: \.isEmpty) else {
            throw ConfigError.invalid("'\(path)' is not a field name; use --set field=value, e.g. --set model.heads=2")
        }
        let data = try JSONEncoder().encode(self)
        guard var root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError.invalid("cannot edit configuration")
        }
        let parsed: Any = (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) ?? value
        try Self.set(&root, keys, parsed, fullPath: path)
        let edited = try JSONSerialization.data(withJSONObject: root)
        do {
            var result = try JSONDecoder().decode(TrainConfig.self, from: edited)
            if keys == ["task", "kind"] { result.task.matchSamplerToKind() }
            return result
        } catch let error as ModelError {
            throw ConfigError.invalid("'\(value)' is not a valid value for \(path): \(error)")
        } catch {
            throw ConfigError.invalid("'\(value)' is not a valid value for \(path)")
        }
    }

    private static func set(_ dict: inout [String: Any], _ keys: [String], _ value: Any, fullPath: String) throws {
        guard let key = keys.first else { return }
        let known = dict.keys.sorted()
        if keys.count == 1 {
            // Optional fields (activationClip) are absent from the JSON when nil.
            guard dict[key] != nil || optionalFields.contains(key) else {
                throw ConfigError.unknownField(fullPath, known)
            }
            dict[key] = value
            return
        }
        guard var child = dict[key] as? [String: Any] else { throw ConfigError.unknownField(fullPath, known) }
        try set(&child, Array(keys.dropFirst()), value, fullPath: fullPath)
        dict[key] = child
    }

    private static let optionalFields: Set<String> = ["activationClip", "trainable", "normals"]

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
