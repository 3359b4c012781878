import Foundation
import Testing
import MesaExperiments

/// F8's claims from given numbers, and its smoke profile end to end on the project's test text.
@Suite struct FindingF8Tests {
    func measured(_ bits: [String: Double]) -> FindingF8.Measured {
        FindingF8.Measured(models: bits.sorted { $0.key < $1.key }.map { .init(preset: $0.key, bitsPerByte: [$0.value], iclScore: [0.5]) })
    }

    @Test func claimsFollowTheNumbers() {
        let good = ["lm-2-softmax": 2.50, "lm-2-linear": 2.80, "lm-2-mesa": 2.55,
                    "lm-4-softmax": 2.20, "lm-4-linear": 2.40, "lm-4-mesa": 2.30]
        #expect(FindingF8.claims(measured(good)).map(\.holds) == [true, true, true])
        var m = good
        m["lm-4-mesa"] = 2.41
        #expect(FindingF8.claims(measured(m)).map(\.holds) == [true, false, true])
        m = good
        m["lm-2-mesa"] = 2.70  // 8% above softmax: not "roughly"
        #expect(FindingF8.claims(measured(m)).map(\.holds) == [true, true, false])
        #expect(FindingF8.claims(measured(m))[2].measured.contains("+8.0%"))
        m = good
        m["lm-2-mesa"] = 2.40  // better than softmax by 4%: still a match
        #expect(FindingF8.claims(measured(m)).map(\.holds) == [true, true, true])
        m.removeValue(forKey: "lm-2-linear")
        #expect(FindingF8.claims(measured(m))[0].holds == false)
    }

    @Test func smokeProfileWritesItsReport() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MesaLanguageTests/Resources/tiny-corpus.txt").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-f8-smoke-\(UUID().uuidString.prefix(8))")
        let report = try FindingF8(corpus: [corpus]).run(ReproductionOptions(profile: "smoke", outputRoot: out, progress: false))
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(text.contains("| claim | measured | result |") && text.contains("lm-4-mesa") && text.contains("smoke"))
        #expect(text.contains("Settings that differ from the paper profile"))
        let csv = try String(contentsOf: out.appendingPathComponent("F8/per_position_loss.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 33)  // header + 32 positions
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("F8/lm-2-mesa-s0/eval/lm_summary.json").path))
        // A second run reuses every finished model.
        _ = try FindingF8(corpus: [corpus]).run(ReproductionOptions(profile: "smoke", outputRoot: out, progress: false))
    }
}
