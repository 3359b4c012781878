import Foundation
import MesaTraining

/// A reproduced finding of SPEC §8: it trains (or reuses) its runs, measures, draws, and writes
/// OUT/NAME/report.md with one row per claim, the measured number beside its threshold.
/// `Findings.all` lists every finding; `mesa reproduce` and its help are generated from it.
public protocol Finding {
    /// The SPEC §8 id: "F1", "F4", …
    var name: String { get }
    /// What the finding claims, in one line (the list in `mesa reproduce --help`).
    var claim: String { get }
    /// The profiles it runs at, the default first: "quick" (minutes here) and "paper" (the
    /// papers' settings, longer).
    var profiles: [String] { get }
    /// The seeds a profile runs when none are given.
    func defaultSeeds(profile: String) -> [UInt64]
    /// Checks the options with `seeds(for:)` before anything is trained or written, trains or
    /// reuses the runs through a `RunCache`, and writes the report with `Report.write`; returns the
    /// report's URL.
    func run(_ options: ReproductionOptions) throws -> URL
}

extension Finding {
    /// The seeds to run: the options' own, or the profile's defaults. Refuses an unknown profile,
    /// an empty seed list and a repeated seed before anything is trained or written: a report
    /// over no runs would say every claim held.
    public func seeds(for options: ReproductionOptions) throws -> [UInt64] {
        guard profiles.contains(options.profile) else {
            throw ReproductionError.unknownProfile(finding: name, profile: options.profile, known: profiles)
        }
        guard let seeds = options.seeds else { return defaultSeeds(profile: options.profile) }
        guard !seeds.isEmpty else { throw ReproductionError.emptySeeds(finding: name) }
        if let repeated = seeds.first(where: { s in seeds.filter { $0 == s }.count > 1 }) {
            throw ReproductionError.repeatedSeed(finding: name, seed: repeated)
        }
        return seeds
    }

    /// OUT/NAME: the finding's folder of runs, figures and report.
    public func root(_ options: ReproductionOptions) -> URL { options.outputRoot.appendingPathComponent(name) }

    /// The command that reproduces a report, as the report prints it.
    func command(_ options: ReproductionOptions) -> String {
        "mesa reproduce \(name) --profile \(options.profile)"
            + (options.seeds.map { " --seeds " + $0.map(String.init).joined(separator: ",") } ?? "")
            + (options.executor.map { " --executor \($0.name)" } ?? "")
    }
}

/// Options every `mesa reproduce` finding takes.
public struct ReproductionOptions {
    /// One of the finding's `profiles`.
    public var profile: String
    /// Where the finding's folder goes (results/F1, …).
    public var outputRoot: URL
    /// nil: the profile's default seeds.
    public var seeds: [UInt64]?
    /// Retrain even when a finished run is already there.
    public var fresh: Bool
    public var progress: Bool
    /// Train the runs through the sweep engine (`--executor local|slurm`); nil: one after another
    /// in this process, as before. Findings that do not support it ignore it.
    public var executor: SweepExecutor?
    /// Rebuild the report from the finished points only (`--report-only`), training nothing.
    public var reportOnly: Bool
    /// Without `executor`, a finding that trains several runs trains them side by side with
    /// this executor (`mesa reproduce` sets it; `--executor inline` and the library's default,
    /// nil, train them one after another in this process). Findings that do not support the
    /// sweep engine ignore it.
    public var sideBySide: LocalExecutor?

    public init(profile: String = "quick", outputRoot: URL = URL(fileURLWithPath: "results"), seeds: [UInt64]? = nil,
                fresh: Bool = false, progress: Bool = true, executor: SweepExecutor? = nil, reportOnly: Bool = false,
                sideBySide: LocalExecutor? = nil) {
        self.profile = profile
        self.outputRoot = outputRoot
        self.seeds = seeds
        self.fresh = fresh
        self.progress = progress
        self.executor = executor
        self.reportOnly = reportOnly
        self.sideBySide = sideBySide
    }

    /// The run cache of a finding's folder under these options; `runs`: how many runs the
    /// finding trains there (through the sweep engine they were just trained, and --fresh
    /// applied, by the executor).
    public func runCache(_ root: URL, runs: Int = 1) -> RunCache {
        RunCache(root: root, fresh: fresh && !trainsAsSweep(runs), progress: progress)
    }
}

/// Why a reproduction did not start or did not finish; each names the option or run at fault.
public enum ReproductionError: Error, CustomStringConvertible {
    case unknownFinding(String, known: [String])
    case unknownProfile(finding: String, profile: String, known: [String])
    case emptySeeds(finding: String)
    case repeatedSeed(finding: String, seed: UInt64)
    case tooManySeeds(finding: String, count: Int, most: Int)
    /// The run folder, and the fields that differ ("path: saved → requested").
    case otherConfiguration(String, [String])
    case interrupted(String)
    case emptyReport(String)

    public var description: String {
        switch self {
        case let .unknownFinding(name, known): return "unknown finding '\(name)'; available: \(known.joined(separator: ", "))"
        case let .unknownProfile(finding, profile, known):
            return "\(finding): unknown profile '\(profile)'; known: \(known.joined(separator: ", "))"
        case let .emptySeeds(finding):
            return "\(finding): the seed list is empty; give at least one seed (--seeds 0) or leave --seeds out for the profile's defaults"
        case let .repeatedSeed(finding, seed): return "\(finding): seed \(seed) is listed twice in --seeds"
        case let .tooManySeeds(finding, count, most): return "\(finding) runs at most \(most) seed(s) at a time; --seeds lists \(count)"
        case let .otherConfiguration(path, differences):
            let which = differences.isEmpty ? "" : " (" + differences.prefix(4).joined(separator: "; ")
                + (differences.count > 4 ? "; \(differences.count - 4) more" : "") + ")"
            return "\(path) holds a run with another configuration\(which); pass --fresh to replace it, or choose another --out"
        case let .interrupted(run): return "\(run) was interrupted; run the same command again to resume"
        case let .emptyReport(path): return "refusing to write \(path): the report has no claims"
        }
    }
}
