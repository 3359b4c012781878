import Foundation

/// Every finding `mesa reproduce` knows, in SPEC §8 order. Adding one is one line here (see
/// the "Adding a finding" article); the command's help and dispatch come from this list.
public enum Findings {
    public static let all: [any Finding] = [FindingF1(), FindingF2(), FindingF3(), FindingF4(), FindingF5(), FindingF6(), FindingF7(), FindingF8(), FindingF9()]

    public static var names: [String] { all.map(\.name) }
    /// The findings whose runs `mesa reproduce --executor local|slurm` trains through the sweep
    /// engine (and, without `--executor`, side by side when there are several).
    public static let sweepable = ["F1", "F2", "F4"]
    /// The findings whose report `--report-only` rebuilds from a sweep's finished runs.
    public static let reportOnly = ["F1"]

    /// The finding called `name` (case-insensitive: "f1" is F1).
    public static func named(_ name: String) throws -> any Finding {
        guard let f = all.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw ReproductionError.unknownFinding(name, known: names)
        }
        return f
    }

    /// One line per finding: name, claim, profiles and their default seeds.
    public static var catalogue: String {
        all.map { f in
            let profiles = f.profiles.map { p in "\(p) (seeds \(f.defaultSeeds(profile: p).map(String.init).joined(separator: ",")))" }
            return "\(f.name)  \(f.claim). Profiles: \(profiles.joined(separator: ", "))."
        }.joined(separator: "\n")
    }
}
