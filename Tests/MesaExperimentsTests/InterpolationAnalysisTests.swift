import Foundation
import Testing
import MesaAnalysis
import MesaTraining

/// `mesa analyze interpolate` (SPEC §5.3) on a run directory: it trains, it writes only its own
/// folder, and it refuses models it cannot interpolate.
@Suite struct InterpolationAnalysisTests {
    func trainedLinearTwo() throws -> RunDirectory {
        var c = try tinyConfig(steps: 40)
        c.schedule = .init(peak: 1e-2, warmupSteps: 0, horizon: 40, final: 1e-3)
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        return dir
    }

    @Test func trainsTheAveragedModelAndWritesItsFolder() throws {
        let dir = try trainedLinearTwo()
        let before = try snapshot(dir.url)
        let run = try LoadedRun(directory: dir)
        let untrained = try InterpolationAnalysis(run, steps: 1).measure()
        var seen = 0
        let analysis = try InterpolationAnalysis(run, steps: 40)
        let r = try analysis.run { step, total, loss in
            seen += 1
            #expect(step == seen && total == 40 && loss.isFinite)
        }
        #expect(seen == 40)
        // The same trained model is scored both times; the interpolated one learns.
        #expect(r.modelLoss == untrained.modelLoss)
        #expect(r.interpolatedLoss < 0.9 * untrained.interpolatedLoss, "\(r.interpolatedLoss) vs \(untrained.interpolatedLoss)")
        #expect(r.modelPerPosition.count == 12 && r.interpolatedPerPosition.count == 12)
        #expect(abs(r.gap - (r.interpolatedLoss / r.modelLoss - 1)) < 1e-12)
        #expect(r.matched == (abs(r.gap) <= 0.15))
        for f in ["per_position_loss.csv", "summary.json", "summary.md"] {
            #expect(FileManager.default.fileExists(atPath: analysis.outputDirectory.appendingPathComponent(f).path), "\(f)")
        }
        #expect(try snapshot(dir.url) == before)
    }

    @Test func refusesWhatItCannotInterpolate() throws {
        let softmax = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: tinySoftmaxConfig(), in: softmax, resume: false, progress: false)
        do { _ = try InterpolationAnalysis(LoadedRun(directory: softmax)); Issue.record("interpolated a softmax model") } catch {
            #expect("\(error)".contains("linear layers only"), "\(error)")
        }
        let run = try LoadedRun(directory: trainedLinearTwo())
        #expect(throws: AnalysisError.self) { try InterpolationAnalysis(run, steps: 0) }
        #expect(throws: AnalysisError.self) { try InterpolationAnalysis(run, tolerance: -1) }
    }
}
