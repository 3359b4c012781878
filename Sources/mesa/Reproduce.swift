import ArgumentParser
import Foundation
import MesaExperiments

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce a finding end to end: train, evaluate, draw, and write a report.",
        discussion: """
        Findings: F1 (linear-1 implements GD-1), F4 (the mesa-layer beats deep softmax and linear stacks), F9 ([ZH]: one-step GD emerges on AR sequences). Results go to OUT/FINDING/ (report.md, run \
        directories, CSV and figures). A finished run with the same configuration is reused; an \
        interrupted one is resumed.
        """)

    @Argument(help: "The finding to reproduce (F1, F4, F9).") var finding: String
    @Option(help: "quick (minutes on this machine) or paper (the papers' settings, longer).") var profile = "quick"
    @Option(help: "Seeds, comma-separated (default: 0 for quick, 0-4 for paper).") var seeds: String?
    @Option(help: "Results folder.") var out = "results"
    @Flag(help: "Retrain even if finished runs are present.") var fresh = false
    @Flag(help: "No progress lines.") var quiet = false

    func run() throws {
        var parsedSeeds: [UInt64]?
        if let seeds {
            parsedSeeds = try seeds.split(separator: ",").map {
                guard let s = UInt64($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--seeds expects comma-separated non-negative integers, got '\(seeds)'")
                }
                return s
            }
        }
        let options = ReproductionOptions(profile: profile, outputRoot: URL(fileURLWithPath: out), seeds: parsedSeeds,
                                          fresh: fresh, progress: !quiet)
        let report: URL
        switch finding.uppercased() {
        case "F1": report = try FindingF1.run(options)
        case "F4": report = try FindingF4.run(options)
        case "F9": report = try FindingF9.run(options)
        default: throw ValidationError("unknown finding '\(finding)'; available: F1, F4, F9")
        }
        print(try String(contentsOf: report, encoding: .utf8))
        print("report: \(report.path)")
    }
}
