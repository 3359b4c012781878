import MesaTasks
import MesaTensor

/// The sequence task of a run (SPEC §1), as it appears in config.json. `kind` picks the task;
/// `dimension`, `noise` and `stateClip` are shared, and each of tasks 2–4 reads its own group
/// (`partial`, `nonlinear`, `contracting`), which the other kinds ignore.
public struct TaskConfig: Codable, Equatable, Sendable {
    /// "lds": the fully observed linear dynamical system (task 1); "lds-fixed": one teacher
    /// shared by all sequences (task 5); "lds-partial": observed through C* (task 2, n = 5 in
    /// the paper); "lds-nonlinear": through a teacher MLP (task 3); "lds-contracting": with
    /// eigenvalues below 1 (task 4).
    public var kind: String {
        didSet { matchSamplerToKind() }
    }
    /// The observed dimension n.
    public var dimension: Int
    public var noise: Double
    /// Tasks 1–3 clip states to ±stateClip; task 4 uses `contracting.clip` instead.
    public var stateClip: Double
    public var partial: PartiallyObservedLDS.Settings
    public var nonlinear: NonlinearLDS.Settings
    public var contracting: ContractingLDS.Settings
    /// kind "text" (language modelling, SPEC §7): the corpus and its split; nil for the other kinds.
    public var text: TextCorpusSettings?
    /// The normal sampler of the task's random streams (`NormalSampler`): "vectorized"
    /// (stream version 2; what every preset of kind lds or lds-fixed writes since issue 14: no C
    /// library calls, a batch several times cheaper, the same law; at even n the same uniforms,
    /// so values within a few ulp of version 1's), or nil / "box-muller" (version 1: what a
    /// config.json without the field means, so that older runs and their bytes are unchanged,
    /// and the only stream of the other kinds).
    public var normals: String?

    /// The kinds that have the vectorized stream.
    public static let vectorizedKinds: Set<String> = ["lds", "lds-fixed"]

    /// The sampler a new configuration of `kind` gets: "vectorized" where the kind has it.
    public static func defaultNormals(for kind: String) -> String? {
        vectorizedKinds.contains(kind) ? NormalSampler.vectorized.rawValue : nil
    }

    /// A change of kind (in code or by `--set task.kind=…`) to one without the vectorized stream
    /// drops "vectorized" (that kind has one stream); "box-muller" and nil stay as they are.
    public mutating func matchSamplerToKind() {
        if normals == NormalSampler.vectorized.rawValue && !Self.vectorizedKinds.contains(kind) { normals = nil }
    }

    /// The sequence tasks `makeTask` builds; "text" (a corpus, MesaLanguage) is the one other kind.
    public static let kinds = ["lds", "lds-fixed", "lds-partial", "lds-nonlinear", "lds-contracting"]

    public init(kind: String = "lds", dimension: Int = 10, noise: Double = 0.01, stateClip: Double = 10,
                partial: PartiallyObservedLDS.Settings = .init(), nonlinear: NonlinearLDS.Settings = .init(),
                contracting: ContractingLDS.Settings = .init(), text: TextCorpusSettings? = nil,
                normals: String? = nil) {
        self.kind = kind
        self.dimension = dimension
        self.noise = noise
        self.stateClip = stateClip
        self.partial = partial
        self.nonlinear = nonlinear
        self.contracting = contracting
        self.text = text
        self.normals = normals
    }

    private enum CodingKeys: String, CodingKey {
        case kind, dimension, noise, stateClip, partial, nonlinear, contracting, text, normals
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
        text = try c.decodeIfPresent(TextCorpusSettings.self, forKey: .text)
        normals = try c.decodeIfPresent(String.self, forKey: .normals)
    }

    /// The sampler `normals` names; a name it does not know, or "vectorized" for a kind that
    /// has no such stream, is refused with the field named.
    public func normalSampler() throws -> NormalSampler {
        guard let name = normals else { return .boxMuller }
        guard let sampler = NormalSampler(rawValue: name) else {
            throw ConfigError.invalid("task.normals must be one of \(NormalSampler.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        if sampler != .boxMuller && !Self.vectorizedKinds.contains(kind) {
            throw ConfigError.invalid("task.normals '\(name)' is implemented for task kinds lds and lds-fixed only, not '\(kind)'")
        }
        return sampler
    }

    /// Checks the "text" kind's settings (its batches come from MesaLanguage, not from `makeTask`).
    public func validateText() throws {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        guard kind == "text" else { try fail("task.kind is '\(kind)', not text") }
        guard let t = text else { try fail("task.kind text needs task.text (corpus paths and validation fraction)") }
        if dimension != 256 { try fail("task.dimension of a byte-level text task is the vocabulary, 256; got \(dimension)") }
        if t.corpus.isEmpty { try fail("task.text.corpus lists no file or folder") }
        if !(t.validationFraction > 0 && t.validationFraction < 1) {
            try fail("task.text.validationFraction must lie in (0, 1), got \(t.validationFraction)")
        }
    }

    /// The task this configuration describes; `seed` fixes the shared teacher of "lds-fixed".
    /// A parameter out of range is refused with its field named.
    public func makeTask(seed: UInt64) throws -> any SequenceTask {
        func fail(_ s: String) throws -> Never { throw ConfigError.invalid(s) }
        guard dimension > 0 else { try fail("task.dimension must be positive, got \(dimension)") }
        guard noise >= 0, noise.isFinite else { try fail("task.noise must be ≥ 0, got \(noise)") }
        guard stateClip > 0 else { try fail("task.stateClip must be positive, got \(stateClip)") }
        let sampler = try normalSampler()
        switch kind {
        case "lds":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip, normals: sampler)
        case "lds-fixed":
            return LinearDynamicalSystem(dimension: dimension, noise: noise, stateClip: stateClip, fixedTeacher: seed,
                                         normals: sampler)
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
        case "text":
            try fail("task.kind text (byte-level language modelling) has no sequence generator: train and evaluate it with `mesa lm train` / `mesa lm eval`")
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
            try fail("unknown task kind '\(kind)'; known: \((Self.kinds + ["text"]).joined(separator: ", "))")
        }
    }
}

/// The corpus of a language-modelling run (task kind "text", SPEC §7): files and folders read
/// as bytes, split into training and validation text by `validationFraction` (the last part
/// of every file is validation). `bytes` and `digest` record the corpus the run was made
/// from, so that a resume on changed files is refused by name.
public struct TextCorpusSettings: Codable, Equatable, Sendable {
    public var corpus: [String]
    public var validationFraction: Double
    /// Total bytes read when the run was configured (0: not recorded).
    public var bytes: Int
    /// FNV-1a 64 of the files' paths and contents, hex ("": not recorded).
    public var digest: String

    public init(corpus: [String], validationFraction: Double = 0.1, bytes: Int = 0, digest: String = "") {
        self.corpus = corpus
        self.validationFraction = validationFraction
        self.bytes = bytes
        self.digest = digest
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
