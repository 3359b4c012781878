import MesaTasks

/// The sequence task of a run (SPEC §1), as it appears in config.json. `kind` picks the task;
/// `dimension`, `noise` and `stateClip` are shared, and each of tasks 2–4 reads its own group
/// (`partial`, `nonlinear`, `contracting`), which the other kinds ignore.
public struct TaskConfig: Codable, Equatable, Sendable {
    /// "lds": the fully observed linear dynamical system (task 1); "lds-fixed": one teacher
    /// shared by all sequences (task 5); "lds-partial": observed through C* (task 2, n = 5 in
    /// the paper); "lds-nonlinear": through a teacher MLP (task 3); "lds-contracting": with
    /// eigenvalues below 1 (task 4).
    public var kind: String
    /// The observed dimension n.
    public var dimension: Int
    public var noise: Double
    /// Tasks 1–3 clip states to ±stateClip; task 4 uses `contracting.clip` instead.
    public var stateClip: Double
    public var partial: PartiallyObservedLDS.Settings
    public var nonlinear: NonlinearLDS.Settings
    public var contracting: ContractingLDS.Settings

    public static let kinds = ["lds", "lds-fixed", "lds-partial", "lds-nonlinear", "lds-contracting"]

    public init(kind: String = "lds", dimension: Int = 10, noise: Double = 0.01, stateClip: Double = 10,
                partial: PartiallyObservedLDS.Settings = .init(), nonlinear: NonlinearLDS.Settings = .init(),
                contracting: ContractingLDS.Settings = .init()) {
        self.kind = kind
        self.dimension = dimension
        self.noise = noise
        self.stateClip = stateClip
        self.partial = partial
        self.nonlinear = nonlinear
        self.contracting = contracting
    }

    private enum CodingKeys: String, CodingKey {
        case kind, dimension, noise, stateClip, partial, nonlinear, contracting
    }

    /// Groups added after a run was written take their defaults, so older run directories load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(String.self, forKey: .kind)
        dimension = try c.decode(Int.self, forKey: .dimension)
        noise = try c.decode(Double.self, forKey: .noise)
        stateClip = try c.decode(Double.self, forKey: .stateClip)
        partial = try c.decodeIfPresent(PartiallyObservedLDS.Settings.self, forKey: .partial) ?? .init()
        nonlinear = try c.decodeIfPresent(NonlinearLDS.Settings.self, forKey: .nonlinear) ?? .init()
        contracting = try c.decodeIfPresent(ContractingLDS.Settings.self, forKey: .contracting) ?? .init()
    }

    /// The task this configuration describes; `seed` fixes the shared teacher of "lds-fixed".
    /// A parameter out of range is refused with its field named.
    public func makeTask(seed: UInt64) throws -> any SequenceTask {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        guard dimension > 0 else { try fail("task.dimension must be positive, got \(dimension)") }
        guard noise >= 0, noise.isFinite else { try fail("task.noise must be ≥ 0, got \(noise)") }
        guard stateClip > 0 else { try fail("task.stateClip must be positive, got \(stateClip)") }
        switch kind {
        case "lds":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip)
        case "lds-fixed":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip, fixedTeacher: seed)
        case "lds-partial":
            let p = partial
            if p.hidden < dimension {
                try fail("task.partial.hidden (\(p.hidden)) must be at least the observed size task.dimension (\(dimension))")
            }
            if !(p.observationStd > 0 && p.observationStd.isFinite) {
                try fail("task.partial.observationStd must be positive, got \(p.observationStd)")
            }
            if !(p.observationNoise >= 0 && p.observationNoise.isFinite) {
                try fail("task.partial.observationNoise must be ≥ 0, got \(p.observationNoise)")
            }
            if p.lsqWindow < 1 { try fail("task.partial.lsqWindow must be at least 1, got \(p.lsqWindow)") }
            return PartiallyObservedLDS(dimension: dimension, settings: p, noise: noise, stateClip: stateClip)
        case "lds-nonlinear":
            if nonlinear.width < 1 { try fail("task.nonlinear.width must be at least 1, got \(nonlinear.width)") }
            if !(nonlinear.inputGain > 0 && nonlinear.inputGain.isFinite) {
                try fail("task.nonlinear.inputGain must be positive, got \(nonlinear.inputGain)")
            }
            return NonlinearLDS(dimension: dimension, settings: nonlinear, noise: noise, stateClip: stateClip)
        case "lds-contracting":
            let c = contracting
            if !(c.eigenvalueHigh < 1) {
                try fail("task.contracting.eigenvalueHigh must be below 1 for a contracting system, got \(c.eigenvalueHigh)")
            }
            if !(c.eigenvalueLow > -1 && c.eigenvalueLow <= c.eigenvalueHigh) {
                try fail("task.contracting.eigenvalueLow must lie in (−1, eigenvalueHigh = \(c.eigenvalueHigh)], got \(c.eigenvalueLow)")
            }
            if !(c.clip > 0 && c.clip.isFinite) { try fail("task.contracting.clip must be positive, got \(c.clip)") }
            return ContractingLDS(dimension: dimension, settings: c, noise: noise)
        default:
            try fail("unknown task kind '\(kind)'; known: \(Self.kinds.joined(separator: ", "))")
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
