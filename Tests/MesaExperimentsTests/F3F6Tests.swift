import Foundation
import Testing
import MesaExperiments

/// F3's and F6's claims from given numbers, and their smoke profiles end to end.
@Suite struct F3F6Tests {
    static let goodF3 = FindingF3.Measured(
        onCurrent: 0.4, onPrevious: 0.35, length: 50, previousAtEmbedding: 0.2,
        previousByLayer: [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        preconditionedByLayer: [0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.6],
        nextByLayer: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])

    func holds(_ m: FindingF3.Measured) -> [Bool] { FindingF3.claims(m).map(\.holds) }

    @Test func f3ClaimsHoldAndFailAtTheirThresholds() {
        #expect(holds(Self.goodF3) == [true, true, true, true])
        var m = Self.goodF3
        m.onPrevious = 0.09
        #expect(holds(m) == [false, true, true, true])
        m = Self.goodF3
        m.previousByLayer[0] = 0.89
        #expect(holds(m) == [true, false, true, true])
        m = Self.goodF3
        m.previousAtEmbedding = 0.8  // decodable already before layer 1: not built by it
        #expect(holds(m) == [true, false, true, true])
        m = Self.goodF3
        m.preconditionedByLayer = [0.6, 0.5, 0.4, 0.35, 0.3, 0.2, 0.62]  // a late rise alone is not "with depth"
        #expect(holds(m) == [true, true, false, true])
        m = Self.goodF3
        m.nextByLayer[5] = 0.93  // the top layer (0.9) is no longer the best within 0.02
        #expect(holds(m) == [true, true, true, false])
        m.nextByLayer[5] = 0.91
        #expect(holds(m) == [true, true, true, true])
    }

    @Test func rankCorrelationOfAMonotoneSequenceIsOne() {
        let up = FindingF3.Measured.mean([Self.goodF3, Self.goodF3])
        #expect(up == Self.goodF3)
        #expect(FindingF3.claims(up)[2].measured.contains("rank correlation 1.00"))
    }

    @Test func f6ClaimsHoldAndFailAtTheirThresholds() {
        let good = FindingF6.Measured(ratios: [3.0, 1.02, 1.05, 1.01, 1.0, 1.03, 1.08], fromSecond: 1.2)
        func holds(_ m: FindingF6.Measured) -> [Bool] { FindingF6.claims(m).map(\.holds) }
        #expect(holds(good) == [true, true, true])
        var m = good
        m.ratios[0] = 1.4
        #expect(holds(m) == [false, true, true])
        m = good
        m.ratios[3] = 1.11
        #expect(holds(m) == [true, false, true])
        m = good
        m.fromSecond = 1.26
        #expect(holds(m) == [true, true, false])
        #expect(FindingF6.claims(good)[1].measured.contains("layer 7: ×1.080"))
    }

    /// The smoke profiles train one tiny softmax-7 (shared by both) and write their reports.
    @Test func smokeProfilesWriteReports() throws {
        let out = temporaryDirectory("results")
        let options = ReproductionOptions(profile: "smoke", outputRoot: out, progress: false)
        let f3 = try FindingF3().run(options)
        let f6 = try FindingF6().run(options)
        for report in [f3, f6] {
            let text = try String(contentsOf: report, encoding: .utf8)
            #expect(text.contains("| claim | measured | result |") && text.contains("smoke"))
        }
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("F4/softmax-7-smoke-s0/analysis/probes/summary.md").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("F4/softmax-7-smoke-s0/analysis/linearization/summary.md").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("F3/probes_by_layer.csv").path))
    }
}
