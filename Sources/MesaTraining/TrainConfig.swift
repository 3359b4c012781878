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
    /// Names (shell patterns: `layers.1.*`, `*.lambda`) of the parameters to train; the
    /// others stay at their initial values. nil: all.
    public var trainable: [String]?

    public init(preset: String, seed: UInt64 = 0, task: TaskConfig = TaskConfig(), tokens: TokenConstruction,
                model: ModelConfig, steps: Int, batchSize: Int = 256, length: Int = 50,
                schedule: WarmupCosineSchedule = WarmupCosineSchedule(), optimizer: AdamW.Settings = AdamW.Settings(),
                clipping: GradientClipping = .elementwise(1), evalEvery: Int = 250, evalBatchSize: Int = 1024,
                checkpointEvery: Int = 1000, trainable: [String]? = nil) {
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
        self.trainable = trainable
    }

    /// Checks every field and how they fit together; the message names what to change.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        _ = try task.makeTask(seed: seed)
        try model.validate()
        if steps < 0 { try fail("steps must be ≥ 0, got \(steps)") }
        if batchSize <= 0 { try fail("batchSize must be positive, got \(batchSize)") }
        if length <= 0 { try fail("length must be positive, got \(length)") }
        if evalEvery <= 0 || checkpointEvery <= 0 || evalBatchSize <= 0 {
            try fail("evalEvery, checkpointEvery and evalBatchSize must be positive")
        }
        if !(schedule.peak > 0 && schedule.peak.isFinite) { try fail("schedule.peak (learning rate) must be positive, got \(schedule.peak)") }
        if schedule.warmupSteps < 0 || schedule.horizon < 0 { try fail("schedule.warmupSteps and schedule.horizon must be ≥ 0") }
        if model.dimension != task.dimension {
            try fail("model.dimension \(model.dimension) differs from task.dimension \(task.dimension)")
        }
        switch tokens {
        case .raw:
            if !model.embedding { try fail("raw tokens need model.embedding = true") }
        case .constructed, .constructedMasked:
            if model.embedding { try fail("constructed tokens are fed directly: model.embedding must be false") }
            if model.width != 4 * task.dimension {
                try fail("constructed tokens have width 4n = \(4 * task.dimension); model.width is \(model.width)")
            }
            if model.positionalEncoding != 0 { try fail("the positional encoding is for raw tokens only") }
        }
    }

    /// Returns a copy with `path` (dotted, e.g. "model.heads" or "schedule.peak") set to
    /// `value` (parsed as JSON when it parses, else taken as a string).
    public func setting(_ path: String, to value: String) throws -> TrainConfig {
        let data = try JSONEncoder().encode(self)
        guard var root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError.invalid("cannot edit configuration")
        }
        let parsed: Any = (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) ?? value
        try Self.set(&root, path.split(separator: ".").map(String.init), parsed, fullPath: path)
        let edited = try JSONSerialization.data(withJSONObject: root)
        do {
            return try JSONDecoder().decode(TrainConfig.self, from: edited)
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

    private static let optionalFields: Set<String> = ["activationClip", "trainable"]

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
