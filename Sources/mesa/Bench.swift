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
    @Flag(name: .customLong("prop2-fit"), help: "Time fitting Prop-2's step sizes at F2's quick settings instead.")
    var prop2Fit = false
    @Option(help: "Time a prompt-tuning step (eos or prefix) against a training step of the same model instead.")
    var tune: String?

    func run() throws {
        if blas {
            print(BLASBenchmark.run().report)
            return
        }
        if mesaLayer {
            print(MesaLayerBenchmark.run(repeats: repeats).report)
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
        let result = try StepBenchmark.run(config: options.config(), repeats: repeats)
        print(result.report)
    }
}
