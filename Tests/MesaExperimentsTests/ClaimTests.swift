import Foundation
import Testing
import MesaExperiments

/// Each finding's claims from given numbers: they hold where the numbers meet the thresholds and fail
/// where they do not, and interpretive sentences appear only when the numbers support them.
@Suite struct F1ClaimTests {
    /// Numbers like those of the quick profile's seed 0 (every claim held).
    static let good = FindingF1.Measured(
        maxGapToGDOne: 0.047, maxGapToRevAlgOne: 0.022, meanLossModel: 0.8776, meanLossGDOne: 0.8837,
        meanLossRevAlgOne: 0.8826, gdOneStepSize: 0.0318, headStepSizeSum: 0.0334, keyQueryBlockShare: 0.81,
        keyQueryDiagonalShare: 0.986, projectionValueBlockShare: 0.90, projectionValueDiagonalShare: 0.998,
        revAlgGapClosed: 0.6)

    func holds(_ m: FindingF1.Measured) -> [Bool] { FindingF1.claims(m).map(\.holds) }

    @Test func claimsHoldAndFailAtTheirThresholds() {
        #expect(holds(Self.good) == [true, true, true, true, true])
        var m = Self.good
        m.maxGapToGDOne = 0.051
        #expect(holds(m) == [false, true, true, true, true])
        m = Self.good
        m.keyQueryDiagonalShare = 0.89
        #expect(holds(m) == [true, false, true, true, true])
        m = Self.good
        m.projectionValueBlockShare = 0.49
        #expect(holds(m) == [true, true, false, true, true])
        m = Self.good
        m.headStepSizeSum = 1.21 * m.gdOneStepSize
        #expect(holds(m) == [true, true, true, false, true])
        m = Self.good
        m.maxGapToRevAlgOne = .infinity  // RevAlg-1 not measured
        #expect(holds(m) == [true, true, true, true, false])
        #expect(FindingF1.claims(Self.good)[0].measured.contains("largest gap 4.70%"))
    }

    @Test func theRevAlgSentenceFollowsTheGapItCloses() {
        var weak = Self.good
        weak.revAlgGapClosed = 0.3
        let most = FindingF1.revAlgSentence([(0, Self.good), (1, Self.good)])
        #expect(most.contains("60% (seed 0), 60% (seed 1)") && most.contains("account for most of the remaining gap"))
        let mixed = FindingF1.revAlgSentence([(0, Self.good), (1, weak)])
        #expect(mixed.contains("30% (seed 1)") && mixed.contains("do not account for most")
                && !mixed.contains("account for most of the remaining gap"))
        var none = Self.good
        none.revAlgGapClosed = .nan
        #expect(FindingF1.revAlgSentence([(0, none)]).isEmpty)
    }
}

@Suite struct F4ClaimTests {
    static func measured(hybrid: Double = 0.05, fullMesa: Double = 0.06, softmax: Double = 0.12,
                         deep2: Double = 0.09, deep6: Double = 0.07) -> FindingF4.Measured {
        FindingF4.Measured(models: [.init(preset: "hybrid-mesa", meanLosses: [hybrid, hybrid]),
                                    .init(preset: "full-mesa", meanLosses: [fullMesa]),
                                    .init(preset: "softmax-7", meanLosses: [softmax]),
                                    .init(preset: "linear-deep-2", meanLosses: [deep2]),
                                    .init(preset: "linear-deep-6", meanLosses: [deep6])],
                           lsqMeanLoss: 0.03, length: 50, softmaxOnCurrent: 0.4, softmaxOnPrevious: 0.3)
    }

    @Test func claimsHoldAndFailAtTheirThresholds() {
        let good = FindingF4.claims(Self.measured())
        #expect(good.map(\.holds) == [true, true, true, true, true])
        #expect(good[3].statement.hasPrefix("linear-deep-6") && good[3].measured.contains("ratio 1.40"))
        // full-mesa below hybrid-mesa: the ranking fails, the comparison with mesa-free stacks does not.
        #expect(FindingF4.claims(Self.measured(fullMesa: 0.04)).map(\.holds) == [false, true, true, true, true])
        #expect(FindingF4.claims(Self.measured(hybrid: 0.065, deep6: 0.07)).map(\.holds)[2] == false)
        // linear-deep-6 too far (ratio 1.6) or better than the mesa-layer (ratio < 1).
        #expect(FindingF4.claims(Self.measured(deep6: 0.08)).map(\.holds)[3] == false)
        #expect(FindingF4.claims(Self.measured(deep6: 0.049)).map(\.holds)[1 ... 3] == [false, true, false])
        var diffuse = Self.measured()
        diffuse.softmaxOnPrevious = 0.05
        #expect(FindingF4.claims(diffuse).last?.holds == false)
    }

    @Test func withoutHybridMesaNoClaimHolds() {
        let claims = FindingF4.claims(FindingF4.Measured(models: [.init(preset: "softmax-7", meanLosses: [0.1])],
                                                         lsqMeanLoss: 0.03, length: 50))
        #expect(claims.count == 1 && !claims[0].holds)
    }
}

@Suite struct F9ClaimTests {
    static func run(ab: Double, off: Double = 0, outside: Double = 1e-3, lastError: Double = 1e-9, ratio: Double = 0.19,
                    gdGap: Double = 0.01) -> FindingF9.Measured.Run {
        FindingF9.Measured.Run(a0: 0.5, b0: 1.5, tableAb: ab, tableStep: 200, maxOffDiagonal: off,
                               maxOutsideStructure: outside, firstTestError: 1, lastTestError: lastError, lastRatio: ratio,
                               gdGap: gdGap)
    }

    static func setting(_ slug: String, gaussian: Bool, sStar: Double = 0.19, runs: [FindingF9.Measured.Run])
        -> FindingF9.Measured.Setting {
        FindingF9.Measured.Setting(name: slug, slug: slug, gaussian: gaussian, sStar: sStar, sampleOptimum: sStar,
                                   kappa0: 1, expectedRatio: 0.19, trainCount: 5000, runs: runs)
    }

    /// Numbers for which every claim holds: the theory exactly, the Gaussian off-diagonal entries at rounding.
    static func good() -> FindingF9.Measured {
        let gaussian = ["gaussian-sigma0.5", "gaussian-sigma1", "gaussian-sigma2"].map {
            setting($0, gaussian: true, runs: [run(ab: 0.19, off: 1e-12), run(ab: 0.191, off: 1e-12)])
        }
        let sparse = ["sparse-c0.5", "sparse-c1", "sparse-c2"].map {
            setting($0, gaussian: false, sStar: 1, runs: [run(ab: 1, ratio: 1), run(ab: 0.99, ratio: 1)])
        }
        return FindingF9.Measured(
            settings: gaussian + sparse, samplingCount: 5000, samplingDeviations: [0.01, -0.01],
            residual: .init(lastPosition: 49, theoryRatios: [1, 1.02], trainedRatios: [1, 1.05], trainedFirst: 0.1,
                            trainedLast: 0.01),
            scalingStar: 0.19,
            scaling: [1250, 5000, 20_000].enumerated().map { i, m in
                .init(count: m, ab: 0.19, sampleOptimum: 0.19, gdGap: 0.01, maxOffDiagonal: 1e-3 / Double(i + 1),
                      spread: 0.1 / Double(i + 1), residualRatioAtEnd: 1 + 0.5 / Double(i + 1))
            },
            orbitBaseCount: 52, orbitTrainCount: 4992, orbitMaxOutside: 1e-14, gaussianOffDiagonalShare: 1e-4,
            fullOneStar: 0.1,
            fullOne: [.init(a0: 0.5, b0: 1.5, freeOffDiagonalShare: 0.05, freeMaxOffDiagonal: 0.2, freeLoss: 38,
                            projectedLoss: 42, freeHeldOut: 39, projectedHeldOut: 43, projectedAb: 0.1)])
    }

    func failing(_ m: FindingF9.Measured) -> [String] { FindingF9.claims(m).filter { !$0.holds }.map(\.statement) }

    @Test func everyClaimHoldsForTheTheorysNumbers() {
        #expect(failing(Self.good()) == [])
        #expect(FindingF9.claims(Self.good()).count == 17)
    }

    @Test func eachClaimFailsWhenItsNumberMissesTheThreshold() {
        var m = Self.good()
        m.settings[1].runs[0].longAb = 0.2  // Gaussian σ = 1: 5% from s*
        m.settings[1].runs[0].longStep = 600
        #expect(failing(m).count == 1 && failing(m)[0].hasPrefix("gaussian-sigma1: ab → s*"))

        m = Self.good()
        m.settings[4].runs[1].maxOffDiagonal = 1e-6  // sparse c = 1 leaves the block diagonals
        #expect(failing(m).count == 1 && failing(m)[0].hasPrefix("sparse (data condition"))

        m = Self.good()
        m.settings[3].runs[0].lastTestError = 1e-5  // sparse c = 0.5 does not recover the token
        #expect(failing(m).count == 1 && failing(m)[0].hasPrefix("sparse: the test error"))

        m = Self.good()
        m.settings[2].runs[1].lastRatio = 0.21  // Gaussian σ = 2: 10% from s*σ²
        #expect(failing(m).count == 1 && failing(m)[0].hasPrefix("Gaussian: the prediction/target ratio"))

        m = Self.good()
        m.orbitMaxOutside = 1e-8
        #expect(failing(m).count == 1 && failing(m)[0].contains("symmetry orbit"))

        m = Self.good()
        m.scaling[2].spread = 0.2  // the spread grows at the largest m
        #expect(failing(m).count == 1 && failing(m)[0].contains("finite-sample effects"))

        m = Self.good()
        m.fullOne[0].freeHeldOut = 44  // the free model generalizes worse than the projected one
        #expect(failing(m).count == 1 && failing(m)[0].hasPrefix("full-one: the free model"))

        m = Self.good()
        m.fullOne[0].freeOffDiagonalShare = 5e-4  // under 10× the Gaussian run's share
        #expect(failing(m).count == 1 && failing(m)[0].contains("off-diagonal structure"))
    }

    /// "Sampling noise … not rounding" is said only of entries above rounding that shrink with m.
    @Test func theOffDiagonalNoteFollowsTheNumbers() {
        var m = Self.good()
        #expect(FindingF9.offDiagonalNote(m, largest: 1e-12).isEmpty)
        #expect(FindingF9.offDiagonalNote(m, largest: 1e-3).contains("shrinking as m grows"))
        #expect(FindingF9.offDiagonalNote(m, largest: 1e-3).contains("sampling noise of a finite training set"))
        m.scaling[2].maxOffDiagonal = 1e-2
        let growing = FindingF9.offDiagonalNote(m, largest: 1e-3)
        #expect(growing.contains("not shrinking") && growing.contains("do not show it to be sampling noise"))
        for i in m.settings.indices where m.settings[i].gaussian { m.settings[i].runs[0].maxOffDiagonal = 1e-3 }
        let row = FindingF9.claims(m).first { $0.statement.hasPrefix("Gaussian (data condition") }
        #expect(row?.holds == false && row?.measured.contains("not shrinking") == true)
    }

    /// "A floor from the finite training set" is said only when the trained model misses s²κ3/(t−1) and
    /// the ratio at the last position falls toward 1 as m grows.
    @Test func theResidualFloorNoteFollowsTheNumbers() {
        var m = Self.good()
        let trained = { FindingF9.claims(m).first { $0.statement.hasPrefix("Gaussian σ = 1, the trained model") }! }
        #expect(trained().holds && !trained().measured.contains("floor"))
        m.residual?.trainedRatios = [1, 1.4]
        #expect(!trained().holds && trained().measured.contains("falling toward 1 as m grows: a floor set by the finite training set"))
        m.scaling[2].residualRatioAtEnd = 1.6
        #expect(!trained().holds && trained().measured.contains("do not show a finite-sample floor"))
    }
}

@Suite struct ReportTests {
    @Test func aReportWithoutClaimsNeverReplacesOne() throws {
        let url = temporaryDirectory("F1").appendingPathComponent("report.md")
        let claim = Claim(statement: "s", measured: "m", holds: true)
        try Report.write("# report\n", claims: [claim], to: url)
        #expect(throws: ReproductionError.self) { try Report.write("", claims: [], to: url) }
        #expect(try String(contentsOf: url, encoding: .utf8) == "# report\n")
        #expect(Claim.table([claim]) == "| claim | measured | result |\n|---|---|---|\n| s | m | matched |")
    }
}
