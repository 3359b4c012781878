import MesaTasks

/// The sequence task of a run (SPEC §1), as it appears in config.json.
public struct TaskConfig: Codable, Equatable, Sendable {
    /// "lds": the fully observed linear dynamical system (task 1); "lds-fixed": one teacher
    /// shared by all sequences (task 5).
    public var kind: String
    public var dimension: Int
    public var noise: Double
    public var stateClip: Double

    public static let kinds = ["lds", "lds-fixed"]

    public init(kind: String = "lds", dimension: Int = 10, noise: Double = 0.01, stateClip: Double = 10) {
        self.kind = kind
        self.dimension = dimension
        self.noise = noise
        self.stateClip = stateClip
    }

    /// The task this configuration describes; `seed` fixes the shared teacher of "lds-fixed".
    public func makeTask(seed: UInt64) throws -> any SequenceTask {
        guard dimension > 0 else { throw ConfigError.invalid("task.dimension must be positive, got \(dimension)") }
        guard noise >= 0, noise.isFinite else { throw ConfigError.invalid("task.noise must be ≥ 0, got \(noise)") }
        guard stateClip > 0 else { throw ConfigError.invalid("task.stateClip must be positive, got \(stateClip)") }
        switch kind {
        case "lds":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip)
        case "lds-fixed":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip, fixedTeacher: seed)
        default:
            throw ConfigError.invalid("unknown task kind '\(kind)'; known: \(Self.kinds.joined(separator: ", "))")
        }
    }
}

public enum ConfigError: Error, CustomStringConvertible {
    case invalid(String)
    case unknownPreset(String, [String])
    case unknownField(String, [String])

    public var description: String {
        switch self {
        case let .invalid(why): return "invalid configuration: \(why)"
        case let .unknownPreset(name, known):
            return "unknown preset '\(name)'; known presets: \(known.joined(separator: ", "))"
        case let .unknownField(path, known):
            return "no configuration field '\(path)'; fields here: \(known.joined(separator: ", "))"
        }
    }
}
