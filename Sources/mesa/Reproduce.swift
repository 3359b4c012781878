import ArgumentParser
import Foundation
import MesaExperiments
import MesaTraining

/// `mesa reproduce FINDING`: dispatches to the registry (`Findings.all`), whose entries also write
/// the help's list of findings, profiles and default seeds.
struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce a finding end to end: train, evaluate, draw, and write a report.",
        discussion: """
        Findings, with their profiles and each profile's default seeds:
        \(Findings.catalogue)

        Results go to OUT/FINDING/ (report.md, run directories, CSV and figures). A finished run \
        with the same configuration is reused; an interrupted one is resumed.
        """)

    @Argument(help: "The finding to reproduce (\(Findings.names.joined(separator: ", "))).") var finding: String
    @Option(help: "The finding's profile: quick (minutes on this machine) or paper (the papers' settings, longer).")
    var profile = "quick"
    @Option(help: "Seeds, comma-separated (default: the profile's, listed above).") var seeds: String?
    @Option(help: "Results folder.") var out = "results"
    @Flag(help: "Retrain even if finished runs are present.") var fresh = false
    @Flag(help: "No progress lines.") var quiet = false
    @Option(help: "Where the runs train: local (separate processes, one per core, one thread each), slurm (a job array) or inline (one after another in this process, on all cores); \(Findings.sweepable.joined(separator: ", ")) so far. Default: local when the finding trains several runs, else inline.")
    var executor: String?
    @Flag(name: .customLong("report-only"), help: "Rebuild the report from the finished runs of an --executor sweep, training nothing.")
    var reportOnly = false

    func run() throws {
        var parsedSeeds: [UInt64]?
        if let seeds {
            parsedSeeds = try seeds.split(separator: ",").map {
                guard let s = UInt64($0.trimmingCharacters(in: .whitespaces)) else {
                    throw CommandError("--seeds expects comma-separated non-negative integers, got '\(seeds)'")
                }
                return s
            }
        }
        if let executor, !["local", "slurm", "inline"].contains(executor.lowercased()) {
            throw CommandError("--executor must be local, slurm or inline, got '\(executor)'")
        }
        let inline = executor?.lowercased() == "inline"
        let sweepExecutor = inline ? nil : try executor.map { try SweepExecutor.named($0, progress: !quiet) }
        if sweepExecutor != nil && !Findings.sweepable.contains(finding.uppercased()) {
            throw CommandError("--executor local|slurm is supported by \(Findings.sweepable.joined(separator: ", ")) so far, not \(finding)")
        }
        if reportOnly && !Findings.reportOnly.contains(finding.uppercased()) {
            throw CommandError("--report-only is supported by \(Findings.reportOnly.joined(separator: ", ")) so far, not \(finding)")
        }
        if reportOnly && inline { throw CommandError("--report-only reads a sweep's runs; it does not go with --executor inline") }
        // Several runs train side by side by default: one process per core, one thread each
        // (measured faster than one run after another on all cores; BENCHMARKS.md, "Sweeps").
        let options = ReproductionOptions(profile: profile, outputRoot: URL(fileURLWithPath: out), seeds: parsedSeeds,
                                          fresh: fresh, progress: !quiet, executor: sweepExecutor, reportOnly: reportOnly,
                                          sideBySide: inline ? nil : LocalExecutor(progress: !quiet))
        Interrupt.install()
        let report: URL
        do {
            report = try Findings.named(finding).run(options)
        } catch let ReproductionError.interrupted(run) where Interrupt.requested {
            FileHandle.standardError.write(Data(("stopped by \(Interrupt.signalName ?? "request") during \(run): its checkpoint "
                + "and every finished run are saved under \(options.outputRoot.path); run the same command again to resume\n").utf8))
            throw ExitCode(Interrupt.exitStatus)
        }
        print(try String(contentsOf: report, encoding: .utf8))
        print("report: \(report.path)")
    }
}
