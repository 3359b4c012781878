import ArgumentParser
import Foundation
import MesaAnalysis
import MesaTensor
import MesaTraining

/// `mesa analyze ANALYSIS RUN`: the reverse-engineering analyses of SPEC §5 on any run directory.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take a trained run apart: linear probes, linearization, attention maps, sensitivity, few-shot regression.",
        discussion: """
        Each analysis reads RUN (written by `mesa train` or `mesa reproduce`) and writes \
        RUN/analysis/NAME/ atomically: CSV, PNG/SVG figures and summary.md. Nothing else in RUN changes.
        """,
        subcommands: [AnalyzeProbes.self, AnalyzeLinearize.self, AnalyzeAttention.self, AnalyzeSensitivity.self, AnalyzeFewShot.self,
                      AnalyzeInterpolate.self])
}

struct RunArgument: ParsableArguments {
    @Argument(help: "Run directory with config.json and checkpoint.safetensors.") var run: String

    func load() throws -> LoadedRun { try LoadedRun(directory: RunDirectory(URL(fileURLWithPath: run))) }
}

/// "1,3" → [1, 3].
func layerList(_ text: String?) throws -> [Int]? {
    guard let text else { return nil }
    return try text.split(separator: ",").map {
        guard let l = Int($0.trimmingCharacters(in: .whitespaces)) else {
            throw CommandError("--layers takes 1-based layer numbers separated by commas, got '\(text)'")
        }
        return l
    }
}

struct AnalyzeProbes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probes",
        abstract: "Linear probes of the residual stream for s_t, s_{t-1..3}, s_{t+1} and the preconditioned token.",
        discussion: """
        Least squares without bias per site (embedding, after every attention and MLP sublayer) and position, \
        fitted on the run's validation batch and scored on its test batch. Writes RUN/analysis/probes/.
        """)

    @OptionGroup var target: RunArgument
    @Option(help: "1-based layers to probe, e.g. 1,3 (default: all).") var layers: String?
    @Option(help: "Sequences in each of the fitting and the scoring set.") var sequences = 2048
    @Option(help: "Precision of the model's forward: float32 (as it trained; the least squares run in Double either way) or float64.")
    var forward = "float32"

    func run() throws {
        let start = Date()
        guard let dtype = ["float32": DType.float32, "float64": .float64][forward] else {
            throw CommandError("--forward must be float32 or float64, got '\(forward)'")
        }
        let analysis = try ProbeAnalysis(target.load(), layers: layerList(layers), sequences: sequences, forward: dtype)
        let result = try analysis.run()
        print(String(format: "probes of %d sites × %d targets × %d positions in %.1f s (λ = %g)", result.sites.count,
                     result.targets.count, result.positions, Date().timeIntervalSince(start), result.lambda))
        print("wrote \(analysis.outputDirectory.path)")
    }
}

struct AnalyzeLinearize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linearize",
        abstract: "Distil each softmax layer into a linear one, swap it in, and report the loss ratio.",
        discussion: "Per softmax layer, and all from the second on at once. Writes RUN/analysis/linearization/.")

    @OptionGroup var target: RunArgument
    @Option(help: "1-based softmax layers to linearize, e.g. 1,2 (default: all softmax layers).") var layers: String?
    @Option(help: "Sequences in each of the fitting and the test set.") var sequences = 1024
    @Option(help: "Distillation steps per layer.") var steps = 400

    func run() throws {
        let start = Date()
        let analysis = try LinearizationAnalysis(target.load(), layers: layerList(layers), sequences: sequences,
                                                 settings: .init(steps: steps))
        let r = try analysis.run()
        for s in r.single + (r.fromSecond.map { [$0] } ?? []) {
            print(String(format: "layers %@ linearized: loss %.5f, ×%.3f of the model's %.5f", s.layers.map(String.init).joined(separator: ","),
                         s.loss, s.ratio, r.modelLoss))
        }
        print(String(format: "%.1f s; wrote %@", Date().timeIntervalSince(start), analysis.outputDirectory.path))
    }
}

struct AnalyzeAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Attention maps averaged over held-out sequences, with the weight on t and t-1.",
        discussion: "Writes RUN/analysis/attention/: per-head CSV matrices, heat maps, focus.csv, summary.md.")

    @OptionGroup var target: RunArgument
    @Option(help: "1-based layers (default: every softmax layer).") var layers: String?
    @Option(help: "Test sequences to average over.") var sequences = 2048

    func run() throws {
        let analysis = try AttentionAnalysis(target.load(), layers: layerList(layers), sequences: sequences)
        for f in try analysis.run() {
            print(String(format: "layer %d: mean weight on t %.3f, on t-1 %.3f", f.layer, f.onCurrent, f.onPrevious))
        }
        print("wrote \(analysis.outputDirectory.path)")
    }
}

struct AnalyzeSensitivity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensitivity",
        abstract: "How much the prediction at t moves with the state at t': ||df_t/ds_t'|| as a heat map.",
        discussion: """
        The Jacobian norm per (t, t'), exact by reverse mode in Double, averaged over the run's test sequences \
        (SPEC §5.7). Writes RUN/analysis/sensitivity/: sensitivity.csv, a heat map, lags.csv, summary.md.
        """)

    @OptionGroup var target: RunArgument
    @Option(help: "Test sequences to average over (each costs T backward passes over n copies).") var sequences = 16

    func run() throws {
        let start = Date()
        let analysis = try SensitivityAnalysis(target.load(), sequences: sequences)
        let s = try analysis.run()
        print(String(format: "mean ||df_t/ds_t'|| at lag 0: %.4g, lag 1: %.4g, lag 2: %.4g, lag >= 3: %.4g; above the diagonal at most %.3g",
                     s.byLag[0], s.byLag[1], s.byLag[2], s.byLag[3], s.aboveDiagonal))
        print(String(format: "%.1f s; wrote %@", Date().timeIntervalSince(start), analysis.outputDirectory.path))
    }
}

struct AnalyzeInterpolate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpolate",
        abstract: "Train the averaged-products model (½ free linear + ½ CompressedAlg per layer) and compare it with a linear-k run.",
        discussion: """
        SPEC §5.3, on any run of linear layers on constructed tokens: the interpolated model trains from scratch with \
        the run's task, batches, schedule and optimizer, and both are scored on the run's held-out batch. \
        Writes RUN/analysis/interpolation/: per_position_loss.csv and figure, summary.json, summary.md.
        """)

    @OptionGroup var target: RunArgument
    @Option(help: "Training steps of the interpolated model (default: the run's own).") var steps: Int?
    @Option(help: "Largest relative gap in mean loss that counts as matched.") var tolerance = 0.15

    func run() throws {
        let start = Date()
        let analysis = try InterpolationAnalysis(target.load(), steps: steps, tolerance: tolerance)
        var last = Date.distantPast
        let r = try analysis.run { step, total, loss in
            guard step == total || Date().timeIntervalSince(last) >= 2 else { return }
            last = Date()
            let elapsed = Date().timeIntervalSince(start)
            let eta = elapsed / Double(step) * Double(total - step)
            FileHandle.standardError.write(Data(String(format: "\rinterpolated model step %d/%d  loss %.4f  ETA %d:%02d   ",
                                                       step, total, loss, Int(eta) / 60, Int(eta) % 60).utf8))
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        print(String(format: "trained run %.5f, interpolated %.5f: gap %+.1f%%, %@", r.modelLoss, r.interpolatedLoss, r.gap * 100,
                     r.matched ? "matched" : "not matched"))
        print(String(format: "%.1f s; wrote %@", Date().timeIntervalSince(start), analysis.outputDirectory.path))
    }
}
