import ArgumentParser
import Foundation
import MesaAnalysis

/// `mesa analyze fewshot RUN` (SPEC §1 task 6): few-shot regression with a model trained on a
/// dynamical system.
struct AnalyzeFewShot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fewshot",
        abstract: "Few-shot linear regression in context: the model's error per pair beside two LSQ controls.",
        discussion: """
        Feeds tokens [x_1, y_1, x_2, y_2, ...] (W orthogonal, x ~ N(0, I), y = W x) to the trained model and \
        scores its prediction of each y_i, beside LSQ on the pairs and LSQ on the pairs and the y_i -> x_{i+1} \
        transitions. Writes RUN/analysis/fewshot/: fewshot.csv, fewshot.png/svg, summary.md.
        """)

    @OptionGroup var target: RunArgument
    @Option(help: "Pairs per sequence (default: half the run's sequence length).") var pairs: Int?
    @Option(help: "Sequences to average over.") var sequences = 1024
    @Option(help: "Ridge parameter of the LSQ controls.") var lambda = 1e-3

    func run() throws {
        let start = Date()
        let analysis = try FewShotAnalysis(target.load(), pairs: pairs, sequences: sequences, lambda: lambda)
        let c = try analysis.run()
        let last = analysis.pairs - 1
        print(String(format: "pair %d: model %.4f, LSQ on pairs %.4f, LSQ on transitions %.4f (%.1f s)", last + 1,
                     c.model[last], c.lsqPairs[last], c.lsqTransitions[last], Date().timeIntervalSince(start)))
        print("wrote \(analysis.outputDirectory.path)")
    }
}
