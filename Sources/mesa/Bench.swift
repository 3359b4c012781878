import ArgumentParser
import Foundation
import MesaExperiments
import MesaTraining

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training-step speed (median of repeated runs) and the machine's BLAS rate.",
        discussion: "Results for BENCHMARKS.md: `mesa bench --preset linear-2` and `mesa bench --blas`.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Timed repetitions (after warm-up).") var repeats: Int = 20
    @Flag(help: "Measure the BLAS matrix-product rate instead.") var blas = false

    func run() throws {
        if blas {
            print(BLASBenchmark.run().report)
            return
        }
        let result = try StepBenchmark.run(config: options.config(), repeats: repeats)
        print(result.report)
    }
}
