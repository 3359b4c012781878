import Testing
import Numerics
import MesaTensor
import MesaTheory

@Suite struct PredictionTests {
    @Test func harmonicSumAndReferenceValues() throws {
        #expect(EmergencePrediction.harmonicSum(length: 3) == 1)
        #expect(EmergencePrediction.harmonicSum(length: 4) == 1.5)
        #expect(abs(EmergencePrediction.harmonicSum(length: 100) - 5.1672765075386105) < 1e-13)
        // ZHENG.md: s* = 1/(σ²[5 + (d−1)H/(T−2)]) ≈ 0.1919/σ² at d = 5, T = 100; sparse s* = 1/c².
        for sigma in [0.5, 1, 2] {
            let p = try EmergencePrediction(ARProcess(initialToken: .gaussian(sigma: sigma)))
            #expect(abs(p.stepSize * sigma * sigma - 0.19190508852558863) < 1e-14)
            #expect(abs(p.expectedRatio - 0.19190508852558863) < 1e-14)
        }
        for c in [0.5, 1, 2] {
            let p = try EmergencePrediction(ARProcess(initialToken: .sparse(scale: c)))
            #expect(abs(p.stepSize - 1 / (c * c)) < 1e-14)
            #expect(abs(p.testError(position: 99, stepSize: 1 / (c * c))) < 1e-14)
        }
    }

    /// κ0…κ3 in closed form against a Monte Carlo estimate (within 5 standard errors).
    @Test(arguments: [InitialTokenDistribution.gaussian(sigma: 1.3), .sparse(scale: 0.7), .fullOne])
    func momentsMatchMonteCarlo(_ distribution: InitialTokenDistribution) throws {
        let exact = try #require(InitialTokenMoments.exact(distribution, dimension: 4))
        let mc = try InitialTokenMoments.monteCarlo(distribution, dimension: 4, samples: 100_000, seed: 9)
        let pairs = [(exact.kappa0, mc.kappa0), (exact.kappa1, mc.kappa1), (exact.kappa2, mc.kappa2), (exact.kappa3, mc.kappa3)]
        for (k, (e, m)) in pairs.enumerated() {
            #expect(abs(e - m) <= 5 * mc.standardErrors[k] + 1e-12 * abs(e), "κ\(k): closed form \(e), Monte Carlo \(m) ± \(mc.standardErrors[k])")
        }
    }

    /// The derivation behind s* (the θ-averages that kill cross terms, the H κ3 term), checked against the
    /// training-set optimum of the one-step GD step on many sequences; the custom distribution goes
    /// through the Monte Carlo moments. Dropping the H κ3 term (s = κ1/κ2) would miss by 60% and 20%.
    @Test func stepSizeMatchesTheSampleOptimum() throws {
        let uniform = InitialTokenDistribution.custom(name: "uniform") { stream, d in
            (0..<d).map { _ in Complex(stream.uniform(-1, 1), 0) }
        }
        for (distribution, tolerance) in [(InitialTokenDistribution.fullOne, 0.01), (uniform, 0.02)] {
            let process = ARProcess(dimension: 3, length: 12, initialToken: distribution)
            let predicted = try EmergencePrediction(process, monteCarloSamples: 200_000).stepSize
            let data = try ARSequenceSet(process, count: 4000, seed: 2, purpose: .trainingBatch)
            let measured = OneStepGD.bestStepSize(on: data)
            #expect(abs(measured / predicted - 1) < tolerance, "\(distribution): s* \(predicted), sample optimum \(measured)")
        }
    }

    /// L(s) of the tied diagonal model: exact on any sparse training set (z_t = c² x_{t+1} there), and the
    /// expectation for the Gaussian one.
    @Test func lossOfTheDiagonalFamily() throws {
        let sparse = ARProcess(dimension: 4, length: 30, initialToken: .sparse(scale: 1.5))
        let data = try ARSequenceSet(sparse, count: 50, seed: 1, purpose: .trainingBatch)
        let model = try LinearCausalAttention.diagonal(dimension: 4, a: 0.3, b: 0.9)
        let measured = FullBatchObjective(data).lossAndGradient(model).loss
        let predicted = try EmergencePrediction(sparse).loss(stepSize: model.ab)
        #expect(abs(measured / predicted - 1) < 1e-12, "measured \(measured), predicted \(predicted)")
        #expect(abs(FullBatchObjective(data).zeroModelLoss - 0.5 * 28 * 2.25) < 1e-12)

        let gaussian = ARProcess(dimension: 3, length: 12, initialToken: .gaussian(sigma: 1))
        let g = try ARSequenceSet(gaussian, count: 20_000, seed: 1, purpose: .trainingBatch)
        let tied = try LinearCausalAttention.diagonal(dimension: 3, a: 0.5, b: 0.5)
        let expected = try EmergencePrediction(gaussian).loss(stepSize: 0.25)
        #expect(abs(FullBatchObjective(g).lossAndGradient(tied).loss / expected - 1) < 0.03)
    }

    @Test func badSettingsAreRejectedByName() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        #expect(message { _ = try EmergencePrediction(ARProcess(dimension: 0, initialToken: .fullOne)) }.contains("dimension d"))
        #expect(message { _ = try EmergencePrediction(ARProcess(length: 2, initialToken: .fullOne)) }.contains("length T"))
        #expect(message { _ = try EmergencePrediction(ARProcess(initialToken: .gaussian(sigma: 0))) }.contains("σ"))
        #expect(message { _ = try EmergencePrediction(ARProcess(initialToken: .gaussian(sigma: .nan))) }.contains("σ"))
        #expect(message { _ = try EmergencePrediction(ARProcess(initialToken: .sparse(scale: -1))) }.contains("scale c"))
        #expect(message { _ = try ARSequenceSet(ARProcess(initialToken: .fullOne), count: 0, seed: 0, purpose: .testBatch) }
            .contains("number of sequences"))
        #expect(message { _ = try InitialTokenMoments.monteCarlo(.fullOne, dimension: 3, samples: 1, seed: 0) }.contains("2 samples"))
        let infinite = InitialTokenDistribution.custom(name: "broken") { _, d in [Complex<Double>](repeating: Complex(.infinity, 0), count: d) }
        #expect(message { _ = try InitialTokenMoments.monteCarlo(infinite, dimension: 3, samples: 10, seed: 0) }.contains("non-finite"))
        #expect(message { _ = try ARSequenceSet(ARProcess(dimension: 3, length: 5, initialToken: infinite), count: 2, seed: 0, purpose: .testBatch) }
            .contains("finite"))
    }
}
