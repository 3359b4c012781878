import ArgumentParser
import MesaNN
import MesaTensor
import MesaTraining

@main
struct Mesa: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesa",
        abstract: "Train small autoregressive Transformers and the mesa-layer, and take them apart.",
        discussion: """
        Reproduces "Uncovering mesa-optimization algorithms in Transformers" (von Oswald et al.) \
        and "On Mesa-Optimization in Autoregressively Trained Transformers" (Zheng et al.).

        Start with:  mesa reproduce F1        (train, evaluate, draw, report: a few minutes)
        Or:          mesa train --preset linear-2 --out runs/l2 && mesa eval runs/l2
        """,
        subcommands: [Train.self, Eval.self, Analyze.self, Reproduce.self, Bench.self, ListPresets.self, Tune.self,
                      LM.self, Sweep.self])

    static func main() {
        // Debian's OpenBLAS falls back to SSE3 kernels on CPU models it does not know;
        // restart once with the AVX2/AVX-512 kernels the CPU supports (see BLASKernels).
        BLASKernels.restartWithBetterKernelsIfNeeded()
        if let problem = ScoreKernels.environmentProblem { Mesa.exit(withError: ValidationError(problem)) }
        Mesa.main(nil)
    }
}

struct ListPresets: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "presets", abstract: "List the training presets and their configurations.")

    @Option(help: "Print this preset's full configuration as JSON.") var show: String?

    func run() throws {
        if let name = show {
            print(try Presets.config(name).jsonString())
        } else {
            for name in Presets.names {
                let c = try Presets.config(name)
                print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(c.model.layers.map(\.rawValue).joined(separator: "+")), \(c.model.heads) heads, d_k \(c.model.keySize), D \(c.model.width), tokens \(c.tokens.rawValue), \(c.steps) steps")
            }
        }
    }
}
