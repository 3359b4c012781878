import ArgumentParser
import Foundation
import MesaExperiments
import MesaTraining

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training-step speed (median of repeated runs) and the machine's BLAS rate.",
        discussion: "Results for BENCHMARKS.md: `mesa bench --preset linear-2`, `mesa bench --mesa-layer`, `mesa bench --prop2-fit`, `mesa bench --blas`.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Timed repetitions (after warm-up).") var repeats: Int = 20
    @Flag(help: "Measure the BLAS matrix-product rate instead.") var blas = false
    @Flag(name: .customLong("mesa-layer"), help: "Measure the mesa-layer alone (B 256, H 4, T 50, d_k 20) instead.")
    var mesaLayer = false
    @Flag(name: .customLong("score-core"), help: "Measure the score core alone (B 256, H 4, T 50, d_k 20): the AVX-512 kernels against the portable ones, one thread's CPU.")
    var scoreCore = false
    @Flag(name: .customLong("prop2-fit"), help: "Time fitting Prop-2's step sizes at F2's quick settings instead.")
    var prop2Fit = false
    @Option(help: "Time a prompt-tuning step (eos or prefix) against a training step of the same model instead.")
    var tune: String?
    @Flag(help: "Measure drawing a training batch: the fast path against the plain reference, and the C library floor.")
    var data = false
    @Flag(help: "Measure how a step grows with T, d_k and depth per attention kind; CSV and log-log figures in --scaling-out.")
    var scaling = false
    @Option(name: .customLong("scaling-out"), help: "Folder for --scaling's CSV files and figures.")
    var scalingOut = "results/bench-scaling"
    @Option(name: .customLong("versus"), parsing: .singleValue,
            help: ArgumentHelp("Time the configuration (A) against A with this field changed (B), step by step in one process: the median of the per-step ratios B / A (repeatable; the same value on both sides gives an A/A run, the noise floor).",
                               valueName: "field=value"))
    var versus: [String] = []
    @Option(name: .customLong("first-step-runs"), help: "Fresh `mesa train --steps 1` processes timed for the time to first step and peak memory (0: skip).")
    var firstStepRuns = 3

    func run() throws {
        if blas {
            print(BLASBenchmark.run().report)
            return
        }
        if mesaLayer {
            print(MesaLayerBenchmark.run(repeats: repeats).report)
            return
        }
        if scoreCore {
            guard let result = ScoreCoreBenchmark.run(repeats: repeats) else {
                print(ScoreCoreBenchmark.unavailable)
                return
            }
            print(result.report)
            return
        }
        if data {
            print(try DataBenchmark.run(config: options.config(), repeats: repeats).report)
            return
        }
        if scaling {
            let result = try ScalingBenchmark.run(batchSize: options.batchSize ?? 16, repeats: min(repeats, 5)) {
                FileHandle.standardError.write(Data(("  " + $0 + "\n").utf8))
            }
            print(result.report)
            do {
                try result.write(to: URL(fileURLWithPath: scalingOut))
                print("CSV and figures in \(scalingOut)/scaling_{T,d_k,depth}.{csv,png,svg}")
            } catch {
                print("figures not drawn: \(error) (CSV in \(scalingOut))")
            }
            return
        }
        if prop2Fit {
            print(try PropositionTwoBenchmark.run().report)
            return
        }
        if let tune {
            print(try PromptTuningBenchmark.run(config: options.config(), kind: tune, repeats: repeats).report)
            return
        }
        if !versus.isEmpty {
            let base = try options.config()
            var variant = base
            for a in versus {
                guard let eq = a.firstIndex(of: "="), eq != a.startIndex else {
                    throw CommandError("--versus expects field=value, got '\(a)'")
                }
                variant = try variant.setting(String(a[..<eq]), to: String(a[a.index(after: eq)...]))
            }
            try variant.validate()
            let result = try VersusBenchmark.run(base: base, variant: variant, repeats: repeats) {
                FileHandle.standardError.write(Data(("  " + $0 + "\n").utf8))
            }
            print(result.report)
            return
        }
        let result = try StepBenchmark.run(config: options.config(), repeats: repeats)
        print(result.report)
        if firstStepRuns > 0 {
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            print(try FirstStepBenchmark.run(executable: executable, trainArguments: options.arguments,
                                             runs: firstStepRuns).report)
        }
    }
}
