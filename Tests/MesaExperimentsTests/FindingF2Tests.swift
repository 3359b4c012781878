import Foundation
import Testing
import MesaExperiments

@Suite struct F2ClaimTests {
    static let good = FindingF2.Measured(depths: [
        .init(depth: 2, model: [0.30, 0.32], prop2: 0.33, compressed: 0.30, multiStepGD: 0.5),
        .init(depth: 4, model: [0.20], prop2: 0.21, compressed: 0.22, multiStepGD: 0.4),
        .init(depth: 6, model: [0.15], prop2: 0.16, compressed: 0.16, multiStepGD: 0.35),
    ], gdOne: 0.6, lsq: 0.05)

    func holds(_ m: FindingF2.Measured) -> [Bool] { FindingF2.claims(m).map(\.holds) }

    /// The paper profile trains linear-2 as its preset does, in 16 micro-batches of 16 sequences;
    /// the quick profile's batch of 64 in 4 (pieces of 16 again), and linear-4 keeps 4 in both.
    @Test func microBatchesPerProfile() throws {
        #expect(try FindingF2.config(depth: 2, profile: "paper", seed: 0).microBatches == 16)
        #expect(try FindingF2.config(depth: 2, profile: "quick", seed: 0).microBatches == 4)
        #expect(try FindingF2.config(depth: 4, profile: "paper", seed: 0).microBatches == 4)
        #expect(try FindingF2.config(depth: 4, profile: "quick", seed: 0).microBatches == 4)
    }

    @Test func claimsHoldAndFailAtTheirThresholds() {
        // depth, then (Prop-2, CompressedAlg) per depth, then the LSQ–GD-1 bracket.
        #expect(holds(Self.good) == Array(repeating: true, count: 8))
        var m = Self.good
        m.depths[2].model = [0.21]  // deeper is worse than linear-4
        #expect(holds(m)[0] == false)
        m = Self.good
        m.depths[1].prop2 = 0.20 * (1 + FindingF2.matchTolerance) + 1e-9
        #expect(holds(m) == [true, true, true, false, true, true, true, true])
        m.depths[1].prop2 = 0.20 * (1 - FindingF2.matchTolerance) + 1e-9
        #expect(holds(m)[3])
        m = Self.good
        m.depths[0].compressed = 0.31 * 1.16
        #expect(holds(m) == [true, true, false, true, true, true, true, true])
        m = Self.good
        m.lsq = 0.16
        #expect(holds(m).last == false)
        #expect(FindingF2.claims(Self.good)[0].measured == "linear-2 0.3100 > linear-4 0.2000 > linear-6 0.1500")
    }

    @Test func theInterpolationClaimFollowsItsGap() {
        var m = Self.good
        m.depths[0].interpolated = 0.31 * 1.149
        #expect(FindingF2.claims(m).count == 9 && FindingF2.claims(m)[3].holds)
        m.depths[0].interpolated = 0.31 * 1.151
        #expect(!FindingF2.claims(m)[3].holds && FindingF2.claims(m)[3].measured.contains("gap 15.1%"))
    }

    @Test func oneDepthHasNoDepthClaim() {
        let m = FindingF2.Measured(depths: [Self.good.depths[0]], gdOne: 0.6, lsq: 0.05)
        #expect(FindingF2.claims(m).count == 3)
    }
}

@Suite struct F2SmokeTests {
    /// The smoke profile end to end: runs, baselines, curves and a report with its claim rows.
    @Test func smokeProfileWritesAReport() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("f2-smoke-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let report = try FindingF2().run(.init(profile: "smoke", outputRoot: out, progress: false))
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(text.contains("| Prop-2 with 1 preconditioning step(s) matches linear-2"))
        #expect(text.contains("Differs from the paper"))
        #expect(text.contains("products (SPEC §5.3) matches linear-2"))
        let csv = try String(contentsOf: out.appendingPathComponent("F2/per_position_loss_linear-2.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("position,model,prop2,compressed,gd2,gd1,lsq"))
        #expect(csv.split(separator: "\n").count == 13)
        // A second run reuses every run and fitted baseline and writes the same numbers.
        let measured = try Data(contentsOf: out.appendingPathComponent("F2/measured.json"))
        _ = try FindingF2().run(.init(profile: "smoke", outputRoot: out, progress: false))
        #expect(try Data(contentsOf: out.appendingPathComponent("F2/measured.json")) == measured)
    }
}
