import Foundation
import MesaTheory

extension FindingF9 {
    /// The numbers F9's claims and interpretive sentences read, taken off the runs once: plain values, so
    /// every claim is a pure function of them and is tested without training. Written as measured.json.
    public struct Measured: Codable, Equatable {
        /// One run of a table row from (a₀, b₀).
        public struct Run: Codable, Equatable {
            public var a0: Double, b0: Double
            /// ab and step at the end of the table run, and of the longer run continuing it, if any.
            public var tableAb: Double, tableStep: Int
            public var longAb: Double?, longStep: Int?
            /// Largest off-diagonal modulus, and largest modulus outside diag(a), diag(b), over every step.
            public var maxOffDiagonal: Double, maxOutsideStructure: Double
            /// Last-position test error at the first and the last probe, and the last prediction/target ratio.
            public var firstTestError: Double, lastTestError: Double, lastRatio: Double
            /// Relative RMS gap to one-step GD with s*, over all held-out positions.
            public var gdGap: Double
            public var finalAb: Double { longAb ?? tableAb }

            public init(a0: Double, b0: Double, tableAb: Double, tableStep: Int, longAb: Double? = nil, longStep: Int? = nil,
                        maxOffDiagonal: Double, maxOutsideStructure: Double, firstTestError: Double,
                        lastTestError: Double, lastRatio: Double, gdGap: Double) {
                (self.a0, self.b0, self.tableAb, self.tableStep, self.longAb, self.longStep) = (a0, b0, tableAb, tableStep, longAb, longStep)
                (self.maxOffDiagonal, self.maxOutsideStructure) = (maxOffDiagonal, maxOutsideStructure)
                (self.firstTestError, self.lastTestError, self.lastRatio, self.gdGap) = (firstTestError, lastTestError, lastRatio, gdGap)
            }
        }

        /// One row of ZHENG.md's table: an initial-token distribution and its runs.
        public struct Setting: Codable, Equatable {
            public var name: String, slug: String
            /// The data condition's κ3 > 0 (Gaussian) or = 0 (sparse).
            public var gaussian: Bool
            /// s*, the training set's own optimum s_emp, κ0 = E‖x_1‖², and the predicted ratio s*κ0/d.
            public var sStar: Double, sampleOptimum: Double, kappa0: Double, expectedRatio: Double
            public var trainCount: Int
            public var runs: [Run]

            public init(name: String, slug: String, gaussian: Bool, sStar: Double, sampleOptimum: Double, kappa0: Double,
                        expectedRatio: Double, trainCount: Int, runs: [Run]) {
                (self.name, self.slug, self.gaussian, self.sStar, self.sampleOptimum) = (name, slug, gaussian, sStar, sampleOptimum)
                (self.kappa0, self.expectedRatio, self.trainCount, self.runs) = (kappa0, expectedRatio, trainCount, runs)
            }
        }

        /// Gaussian σ = 1 from (0.5, 1.5): the part of ŷ_t that does not recover x_{t+1}, its mean square measured
        /// over predicted s²κ3/(t−1), per position t = 2…T−1: for the one-step GD predictor with s* and for
        /// the trained model with its own ab.
        public struct Residual: Codable, Equatable {
            public var lastPosition: Int
            public var theoryRatios: [Double], trainedRatios: [Double]
            /// The trained model's measured mean square at the first and the last position.
            public var trainedFirst: Double, trainedLast: Double

            public init(lastPosition: Int, theoryRatios: [Double], trainedRatios: [Double], trainedFirst: Double,
                        trainedLast: Double) {
                (self.lastPosition, self.theoryRatios, self.trainedRatios) = (lastPosition, theoryRatios, trainedRatios)
                (self.trainedFirst, self.trainedLast) = (trainedFirst, trainedLast)
            }
        }

        /// The Gaussian σ = 1 run from (0.5, 1.5) on m training sequences.
        public struct ScalingPoint: Codable, Equatable {
            public var count: Int
            public var ab: Double, sampleOptimum: Double, gdGap: Double
            /// Largest off-diagonal modulus at the end, and (max − min)/mean of the a_j b_j.
            public var maxOffDiagonal: Double, spread: Double
            /// The trained model's non-recovering part at the last position, measured over predicted (its ab).
            public var residualRatioAtEnd: Double

            public init(count: Int, ab: Double, sampleOptimum: Double, gdGap: Double, maxOffDiagonal: Double,
                        spread: Double, residualRatioAtEnd: Double) {
                (self.count, self.ab, self.sampleOptimum, self.gdGap) = (count, ab, sampleOptimum, gdGap)
                (self.maxOffDiagonal, self.spread, self.residualRatioAtEnd) = (maxOffDiagonal, spread, residualRatioAtEnd)
            }
        }

        /// A full-one pair from (a₀, b₀): the free run and the projected (diagonal-only) one.
        public struct FullOneRun: Codable, Equatable {
            public var a0: Double, b0: Double
            /// Off-diagonal share of ‖W‖² and largest off-diagonal entry of the free run at the end.
            public var freeOffDiagonalShare: Double, freeMaxOffDiagonal: Double
            /// Final training loss and held-out loss of either run; ab of the projected one.
            public var freeLoss: Double, projectedLoss: Double, freeHeldOut: Double, projectedHeldOut: Double
            public var projectedAb: Double

            public init(a0: Double, b0: Double, freeOffDiagonalShare: Double, freeMaxOffDiagonal: Double, freeLoss: Double,
                        projectedLoss: Double, freeHeldOut: Double, projectedHeldOut: Double, projectedAb: Double) {
                (self.a0, self.b0, self.freeOffDiagonalShare, self.freeMaxOffDiagonal) = (a0, b0, freeOffDiagonalShare, freeMaxOffDiagonal)
                (self.freeLoss, self.projectedLoss, self.freeHeldOut, self.projectedHeldOut) = (freeLoss, projectedLoss, freeHeldOut, projectedHeldOut)
                self.projectedAb = projectedAb
            }
        }

        public var settings: [Setting]
        /// s_emp/s* − 1 over training sets of `samplingCount` (Gaussian σ = 1).
        public var samplingCount: Int, samplingDeviations: [Double]
        public var residual: Residual?
        /// s* of the Gaussian σ = 1 scaling runs, and the runs by increasing m.
        public var scalingStar: Double, scaling: [ScalingPoint]
        /// The symmetry-orbit run: base draws, sequences in all, largest modulus outside diag(a), diag(b).
        public var orbitBaseCount: Int, orbitTrainCount: Int, orbitMaxOutside: Double
        /// Off-diagonal share of ‖W‖² of the Gaussian σ = 1 i.i.d. run from (0.5, 1.5): its sampling noise.
        public var gaussianOffDiagonalShare: Double
        /// s* of the full-one moments (the diagonal family's optimum), and the full-one pairs.
        public var fullOneStar: Double, fullOne: [FullOneRun]

        public init(settings: [Setting], samplingCount: Int, samplingDeviations: [Double], residual: Residual?,
                    scalingStar: Double, scaling: [ScalingPoint], orbitBaseCount: Int, orbitTrainCount: Int,
                    orbitMaxOutside: Double, gaussianOffDiagonalShare: Double, fullOneStar: Double, fullOne: [FullOneRun]) {
            (self.settings, self.samplingCount, self.samplingDeviations, self.residual) = (settings, samplingCount, samplingDeviations, residual)
            (self.scalingStar, self.scaling) = (scalingStar, scaling)
            (self.orbitBaseCount, self.orbitTrainCount, self.orbitMaxOutside) = (orbitBaseCount, orbitTrainCount, orbitMaxOutside)
            (self.gaussianOffDiagonalShare, self.fullOneStar, self.fullOne) = (gaussianOffDiagonalShare, fullOneStar, fullOne)
        }

        /// RMS of the sampling deviations.
        public var samplingRMS: Double {
            (samplingDeviations.map { $0 * $0 }.reduce(0, +) / Double(samplingDeviations.count)).squareRoot()
        }

        public func setting(_ slug: String) -> Setting? { settings.first { $0.slug == slug } }
    }

    /// (max − min)/mean of Re(a_j b_j).
    static func relativeSpread(_ m: LinearCausalAttention) -> Double {
        let p = m.products.map(\.real)
        return ((p.max() ?? .nan) - (p.min() ?? .nan)) / m.ab
    }
}

extension FindingF9.Measured {
    /// Reads the numbers off the runs.
    init(settings: [FindingF9.Setting], fullOne: FindingF9.FullOne, orbit: FindingF9.Orbit, sampling: FindingF9.Sampling,
         scaling: FindingF9.Scaling) throws {
        let measuredSettings = settings.map { s in
            Setting(name: s.distribution.description, slug: s.distribution.slug, gaussian: s.prediction.moments.kappa3 > 0,
                    sStar: s.prediction.stepSize, sampleOptimum: s.sampleOptimum, kappa0: s.prediction.moments.kappa0,
                    expectedRatio: s.prediction.expectedRatio, trainCount: s.runs.first?.table.config.trainCount ?? 0,
                    runs: s.runs.map { r in
                        Run(a0: r.a0, b0: r.b0, tableAb: r.table.final.ab, tableStep: r.table.final.step,
                            longAb: r.long?.final.ab, longStep: r.long?.final.step,
                            maxOffDiagonal: r.last.records.map(\.offDiagonalMax).max() ?? .nan,
                            maxOutsideStructure: r.last.records.map(\.outsideStructureMax).max() ?? .nan,
                            firstTestError: r.last.probes.first?.metrics.testError ?? .nan,
                            lastTestError: r.last.probes.last?.metrics.testError ?? .nan,
                            lastRatio: r.last.probes.last?.metrics.ratio ?? .nan, gdGap: r.profile.gdGapOverall)
                    })
        }
        var residual: Residual?
        var gaussianShare = Double.nan
        if let g = settings.first(where: { $0.distribution.slug == "gaussian-sigma1" }), g.runs.count > 1 {
            let r = g.runs[1]
            let positions = r.profile.positions
            let ab = try r.last.model().ab
            residual = Residual(
                lastPosition: positions.last ?? 0,
                theoryRatios: zip(positions, r.profile.gdCapabilityResidual).map {
                    $1 / g.prediction.capabilityResidual(position: $0, stepSize: g.prediction.stepSize)
                },
                trainedRatios: zip(positions, r.profile.capabilityResidual).map {
                    $1 / g.prediction.capabilityResidual(position: $0, stepSize: ab)
                },
                trainedFirst: r.profile.capabilityResidual.first ?? .nan, trainedLast: r.profile.capabilityResidual.last ?? .nan)
            gaussianShare = try r.last.model().offDiagonalShare
        }
        let points = try scaling.points.map { p in
            let model = try p.run.model()
            let last = p.profile.positions.last ?? 0
            return ScalingPoint(count: p.count, ab: p.run.final.ab, sampleOptimum: p.sampleOptimum, gdGap: p.profile.gdGapOverall,
                                maxOffDiagonal: p.run.final.offDiagonalMax, spread: FindingF9.relativeSpread(model),
                                residualRatioAtEnd: (p.profile.capabilityResidual.last ?? .nan)
                                    / scaling.prediction.capabilityResidual(position: last, stepSize: model.ab))
        }
        let pairs = try zip(fullOne.runs, fullOne.heldOutLoss).map { r, h in
            FullOneRun(a0: r.a0, b0: r.b0, freeOffDiagonalShare: try r.free.model().offDiagonalShare,
                       freeMaxOffDiagonal: r.free.final.offDiagonalMax, freeLoss: r.free.final.loss,
                       projectedLoss: r.projected.final.loss, freeHeldOut: h.free, projectedHeldOut: h.projected,
                       projectedAb: r.projected.final.ab)
        }
        self.init(settings: measuredSettings, samplingCount: sampling.count, samplingDeviations: sampling.deviations,
                  residual: residual, scalingStar: scaling.prediction.stepSize, scaling: points,
                  orbitBaseCount: orbit.baseCount, orbitTrainCount: orbit.run.config.trainCount,
                  orbitMaxOutside: orbit.run.records.map(\.outsideStructureMax).max() ?? .nan,
                  gaussianOffDiagonalShare: gaussianShare, fullOneStar: fullOne.prediction.stepSize, fullOne: pairs)
    }
}
