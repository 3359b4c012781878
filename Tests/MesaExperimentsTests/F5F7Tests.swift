import Foundation
import Testing
import MesaExperiments
import MesaTraining

/// F5's and F7's claims from given numbers, and their smoke profiles end to end.
@Suite struct F5F7Tests {
    static func curves(untuned: [Double], eos: [Double], prefix: [Double]) -> FindingF7.Measured {
        let lsq = Array(repeating: 0.0, count: untuned.count)
        return FindingF7.Measured(dimension: 3, untuned: untuned, eos: eos, prefix: prefix, lsqPairs: lsq,
                                  lsqTransitions: [1, 1.4, 1.2, 0.1, 0.1, 0.1])
    }

    @Test func f7ClaimsFollowTheCurves() {
        // Few-shot learning, an ascent before, none after EOS tuning, prefix best: every claim holds.
        let good = FindingF7.claims(Self.curves(untuned: [1, 1.3, 1.1, 0.6, 0.4, 0.3], eos: [1, 0.9, 0.7, 0.4, 0.3, 0.2],
                                                prefix: [0.8, 0.6, 0.4, 0.3, 0.2, 0.1]))
        #expect(good.map(\.holds) == [true, true, true, true, true])
        // No learning in context (last ≥ ½ first), no ascent to fix, EOS still ascending, prefix worse.
        let bad = FindingF7.claims(Self.curves(untuned: [1, 1.0, 0.9, 0.8, 0.7, 0.6], eos: [1, 1.2, 1.1, 0.9, 0.8, 0.7],
                                               prefix: [1, 1.1, 1.0, 0.9, 0.9, 0.9]))
        #expect(bad.map(\.holds) == [false, false, false, false, false])
        // The ascent is read over pairs 2 … n + 1 only: a late bump does not count.
        #expect(FindingF7.ascent([1, 0.9, 0.8, 0.7, 2.0], dimension: 3) == 0.9)
    }

    @Test func f5ClaimsAreF4sPerTask() {
        func measured(hybrid: Double) -> FindingF4.Measured {
            FindingF4.Measured(models: [.init(preset: "hybrid-mesa", meanLosses: [hybrid]), .init(preset: "softmax-7", meanLosses: [0.2]),
                                        .init(preset: "linear-deep-6", meanLosses: [0.12])],
                               lsqMeanLoss: 0.08, length: 50)
        }
        let claims = FindingF5.claims([("lds-partial", measured(hybrid: 0.1)), ("lds-nonlinear", measured(hybrid: 0.3))])
        #expect(claims.count == 8 && claims[0].statement.hasPrefix("[lds-partial] ") && claims[4].statement.hasPrefix("[lds-nonlinear] "))
        // Partial: hybrid-mesa best, 1.25× LSQ, linear-deep-6 1.2× of it; nonlinear: hybrid-mesa worst.
        #expect(claims.map(\.holds) == [true, true, true, true, false, false, false, false])
    }

    /// F7's smoke profile: a tiny hybrid-mesa, EOS and prefix tuning, curves, CSV and report; run
    /// again, it reuses every run.
    @Test func f7SmokeWritesAReport() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("f7-smoke-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let options = ReproductionOptions(profile: "smoke", outputRoot: out, progress: false)
        let report = try FindingF7().run(options)
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(text.contains("| claim | measured | result |") && text.contains("EOS tuning removes that ascent"))
        #expect(text.contains("eos tuning `steps`: 5000 → 4"), "\(text)")
        let csv = try String(contentsOf: report.deletingLastPathComponent().appendingPathComponent("fewshot.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 3)
        let eos = try TuningRun.load(RunDirectory(out.appendingPathComponent("F7/tune-eos-s0")))
        #expect(eos.step == 4 && eos.objective.eos != nil && eos.objective.prefix == nil)
        let again = try FindingF7().run(options)
        #expect(try String(contentsOf: again, encoding: .utf8) == text)
    }

    @Test func f5SmokeWritesAReport() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("f5-smoke-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let report = try FindingF5().run(.init(profile: "smoke", outputRoot: out, progress: false))
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(text.contains("[lds-partial] hybrid-mesa") && text.contains("[lds-nonlinear] hybrid-mesa"))
        #expect(text.contains("LSQ on the last 4 observations"))
        let partial = try RunDirectory(out.appendingPathComponent("F5/lds-partial/hybrid-mesa-s0")).readConfig()
        #expect(partial.task.kind == "lds-partial" && partial.task.dimension == 5 && partial.model.dimension == 5)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("F5/lds-nonlinear/per_position_loss.csv").path))
    }
}
