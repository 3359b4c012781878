import ArgumentParser
import Foundation
import MesaAnalysis
import MesaTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a trained run with GD-1, least squares and RevAlg-1, position by position.",
        discussion: """
        Writes DIR/eval/: per_position_loss.csv (+ .png/.svg), weights/ (per-head W_K^T W_Q and \
        P W_V as CSV and heat maps), training_curve.csv (+ figure) and summary.json.
        """)

    @Argument(help: "Run directory written by `mesa train`.") var dir: String

    func run() throws {
        let evaluation = try Evaluation(runDirectory: RunDirectory(URL(fileURLWithPath: dir)))
        let (summary, table) = try evaluation.run()
        print(EvaluationReport.table(summary: summary, table: table))
        print("wrote \(evaluation.outputDirectory.path)")
    }
}

