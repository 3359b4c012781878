import Foundation
import MesaTraining

/// One point of a sweep: an ordinary `mesa train` run, written as the preset it starts from and
/// the `--set field=value` assignments that make its configuration (the seed among them), so that
/// any executor runs it as `mesa train --preset P --set … --out SWEEP/NAME`.
public struct SweepPoint: Codable, Equatable {
    /// The run directory's name inside the sweep folder.
    public var name: String
    public var preset: String
    /// `field=value` pairs applied in order to the preset (value JSON, or a bare string).
    public var assignments: [String]
    /// The configuration the assignments give (checked when the point is made).
    public var config: TrainConfig

    /// A point from a preset and assignments: the configuration is built and validated here.
    public init(name: String, preset: String, assignments: [String]) throws {
        self.name = name
        self.preset = preset
        self.assignments = assignments
        config = try Self.apply(assignments, to: Presets.config(preset))
    }

    /// A point that trains exactly `config`: the assignments are the top-level fields in which it
    /// differs from its preset, each set to its whole JSON value.
    public init(name: String, config: TrainConfig) throws {
        let base = try Presets.config(config.preset)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func fields(_ c: TrainConfig) throws -> [String: Any] {
            (try JSONSerialization.jsonObject(with: encoder.encode(c)) as? [String: Any]) ?? [:]
        }
        let (b, c) = (try fields(base), try fields(config))
        var assignments: [String] = []
        for key in Set(b.keys).union(c.keys).sorted() {
            let bv = b[key].map { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
            let cv = c[key].map { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
            guard bv != cv else { continue }
            guard let cvData = cv ?? nil else {
                throw SweepError.badSpec("\(name): field \(key) cannot be unset with --set")
            }
            assignments.append("\(key)=\(String(decoding: cvData, as: UTF8.self))")
        }
        try self.init(name: name, preset: config.preset, assignments: assignments)
        guard self.config == config else {
            throw SweepError.badSpec("\(name): the configuration cannot be written as --set assignments on preset \(config.preset)")
        }
    }

    static func apply(_ assignments: [String], to base: TrainConfig) throws -> TrainConfig {
        var c = base
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else { throw SweepError.badSpec("expected field=value, got '\(a)'") }
            c = try c.setting(String(a[..<eq]), to: String(a[a.index(after: eq)...]))
        }
        try c.validate()
        return c
    }

    /// `mesa train` arguments that start this point in `dir`.
    public func trainArguments(out dir: URL) -> [String] {
        ["train", "--preset", preset] + assignments.flatMap { ["--set", $0] } + ["--out", dir.path, "--quiet"]
    }

    /// The configuration this point belongs to when seeds are pooled: its config with the seed at 0.
    public var configurationKey: String {
        var c = config
        c.seed = 0
        return c.jsonString()
    }
}

/// Why a sweep was refused; each names what to change.
public enum SweepError: Error, CustomStringConvertible {
    case badSpec(String)
    case noPoints(String)
    case tooManyPoints(Int, most: Int)
    case otherSweep(String, String)
    case pointHoldsOtherRun(String)
    case sbatchMissing
    case notASweep(String)
    case slurm(String)
    case failed(String)

    public var description: String {
        switch self {
        case let .badSpec(why): return why
        case let .noPoints(why): return "the sweep has no points: \(why)"
        case let .tooManyPoints(n, most):
            return "the sweep expands to \(n) points, more than \(most); pass --yes to run them all, or narrow --seeds/--set"
        case let .otherSweep(path, why):
            return "\(path) holds another sweep's manifest (\(why)); choose another folder, or remove it to start over"
        case let .pointHoldsOtherRun(path):
            return "\(path) holds a run with another configuration; choose another sweep folder or remove that run"
        case .sbatchMissing:
            return "--executor slurm needs sbatch and squeue on the PATH (not found); run on a Slurm login node, or use --executor local"
        case let .notASweep(path): return "\(path) holds no sweep: it has no sweep.json (make one with `mesa sweep run`)"
        case let .slurm(why): return "slurm: \(why)"
        case let .failed(why): return why
        }
    }
}

/// What a sweep runs: base presets times a grid of field values times seeds, or a JSON sweep file
/// with the same fields:
///
///     {"presets": ["linear-1"], "seeds": [0, 1, 2, 3, 4],
///      "set": {"steps": 300}, "grid": {"model.heads": [2, 4]}}
///
/// `set` fixes fields in every point, `grid` takes each listed value in turn (the points are the
/// product of presets, grid values and seeds).
public struct SweepSpec: Codable, Equatable {
    public var presets: [String]
    public var seeds: [UInt64]
    /// Field → value for every point (values as --set takes them: JSON text or a bare string).
    public var set: [String: String]
    /// Field → values, one point per combination.
    public var grid: [String: [String]]

    /// Points a sweep may have without --yes.
    public static let maximumPoints = 64

    public init(presets: [String], seeds: [UInt64], set: [String: String] = [:], grid: [String: [String]] = [:]) {
        self.presets = presets
        self.seeds = seeds
        self.set = set
        self.grid = grid
    }

    /// A sweep file: presets, seeds (numbers, or "0-4"), set (field → JSON value), grid (field → array).
    public static func read(_ url: URL) throws -> SweepSpec {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SweepError.badSpec("cannot read the sweep file \(url.path): \(error.localizedDescription)") }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SweepError.badSpec("\(url.path): a sweep file is a JSON object with presets, seeds, set and grid")
        }
        let known: Set<String> = ["presets", "preset", "seeds", "set", "grid"]
        if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw SweepError.badSpec("\(url.path): unknown key '\(unknown)' (known: grid, presets, seeds, set)")
        }
        func text(_ v: Any) throws -> String {
            if let s = v as? String { return s }
            let d = try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
            return String(decoding: d, as: UTF8.self)
        }
        var presets: [String] = []
        if let p = root["presets"] as? [String] { presets = p } else if let p = root["preset"] as? String { presets = [p] }
        else if root["presets"] != nil { throw SweepError.badSpec("\(url.path): presets must be an array of preset names") }
        if presets.isEmpty { presets = ["linear-2"] }
        var seeds: [UInt64] = [0]
        switch root["seeds"] {
        case nil: break
        case let s as String: seeds = try parseSeeds(s)
        case let a as [Any]:
            seeds = try a.map {
                guard let n = $0 as? NSNumber, let v = UInt64(exactly: n.doubleValue) else {
                    throw SweepError.badSpec("\(url.path): seeds must be non-negative integers, got \($0)")
                }
                return v
            }
        default: throw SweepError.badSpec("\(url.path): seeds must be an array of integers or a range like \"0-4\"")
        }
        var set: [String: String] = [:]
        if let s = root["set"] {
            guard let d = s as? [String: Any] else { throw SweepError.badSpec("\(url.path): set must be an object field → value") }
            for (k, v) in d { set[k] = try text(v) }
        }
        var grid: [String: [String]] = [:]
        if let g = root["grid"] {
            guard let d = g as? [String: Any] else { throw SweepError.badSpec("\(url.path): grid must be an object field → [values]") }
            for (k, v) in d {
                guard let values = v as? [Any] else { throw SweepError.badSpec("\(url.path): grid.\(k) must be an array of values") }
                grid[k] = try values.map(text)
            }
        }
        return SweepSpec(presets: presets, seeds: seeds, set: set, grid: grid)
    }

    /// "0-4" → 0…4, "0,2,7" → [0, 2, 7], "0-2,9" → [0, 1, 2, 9]; refuses repeats.
    public static func parseSeeds(_ text: String) throws -> [UInt64] {
        var seeds: [UInt64] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if part.isEmpty { continue }
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            if ends.count == 2, let a = UInt64(ends[0]), let b = UInt64(ends[1]) {
                guard a <= b else { throw SweepError.badSpec("--seeds: the range \(part) is empty (\(a) > \(b))") }
                guard b - a < 100_000 else { throw SweepError.badSpec("--seeds: the range \(part) is too long") }
                seeds += Array(a...b)
            } else if let s = UInt64(part) {
                seeds.append(s)
            } else {
                throw SweepError.badSpec("--seeds expects non-negative integers and ranges like 0-4, got '\(part)'")
            }
        }
        if let r = seeds.first(where: { s in seeds.filter { $0 == s }.count > 1 }) {
            throw SweepError.badSpec("--seeds lists seed \(r) twice")
        }
        return seeds
    }

    /// Splits "a,b,c" at top-level commas (not inside {}, [] or quotes): `--set clipping={"kind":"x","value":1},null`.
    public static func splitValues(_ text: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0, inString = false, escaped = false
        for ch in text {
            if inString {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
            } else if ch == "\"" { inString = true }
            else if ch == "{" || ch == "[" { depth += 1 }
            else if ch == "}" || ch == "]" { depth -= 1 }
            else if ch == ",", depth == 0 { parts.append(current); current = ""; continue }
            current.append(ch)
        }
        parts.append(current)
        return parts
    }

    /// Every point, in order: presets, then grid values (fields sorted), then seeds. Each point's
    /// configuration is built and validated, so an unknown field or a bad value is refused here,
    /// naming it, before anything is written.
    public func points(maximum: Int? = SweepSpec.maximumPoints) throws -> [SweepPoint] {
        guard !presets.isEmpty else { throw SweepError.noPoints("no presets") }
        guard !seeds.isEmpty else { throw SweepError.noPoints("the seed list is empty") }
        if let empty = grid.keys.sorted().first(where: { grid[$0]!.isEmpty }) {
            throw SweepError.noPoints("the grid lists no values for \(empty)")
        }
        let fields = grid.keys.sorted()
        let count = presets.count * seeds.count * fields.reduce(1) { $0 * grid[$1]!.count }
        if let maximum, count > maximum { throw SweepError.tooManyPoints(count, most: maximum) }
        var combos: [[(String, String)]] = [[]]
        for f in fields { combos = combos.flatMap { c in grid[f]!.map { c + [(f, $0)] } } }
        let fixed = set.keys.sorted().map { "\($0)=\(set[$0]!)" }
        var points: [SweepPoint] = []
        var names: Set<String> = []
        for preset in presets {
            _ = try Presets.config(preset)
            for combo in combos {
                for seed in seeds {
                    var name = preset + combo.map { "-" + Self.slug($0.0, $0.1) }.joined() + "-s\(seed)"
                    if names.contains(name) { name = String(format: "p%03d-", points.count) + name }
                    names.insert(name)
                    let assignments = fixed + combo.map { "\($0.0)=\($0.1)" } + ["seed=\(seed)"]
                    do {
                        points.append(try SweepPoint(name: name, preset: preset, assignments: assignments))
                    } catch {
                        throw SweepError.badSpec("point \(name): \(error)")
                    }
                }
            }
        }
        return points
    }

    /// "model.heads", "2" → "heads2"; characters outside [A-Za-z0-9._-] become "_".
    static func slug(_ field: String, _ value: String) -> String {
        let last = field.split(separator: ".").last.map(String.init) ?? field
        let raw = last + value
        let cleaned = String(raw.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") ? $0 : "_" })
        return String(cleaned.prefix(40))
    }
}
