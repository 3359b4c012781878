import Foundation

/// F9's claims (ZHENG.md; SPEC §8 F9), each a pure function of the measured numbers: a row states the
/// claim, prints the numbers it was judged on, and holds or not by the thresholds of `FindingF9`.
/// Interpretive words ("sampling noise", "a finite-sample floor") are printed only when the numbers
/// that would support them do.
extension FindingF9 {
    /// The table rows whose emergence is a claim of its own; the others are judged together.
    static let criterionSlugs = ["gaussian-sigma1", "sparse-c1", "sparse-c2"]

    /// |ab/s* − 1| at the end of the last run of every initialization.
    static func finalGaps(_ s: Measured.Setting) -> [Double] { s.runs.map { abs($0.finalAb / s.sStar - 1) } }

    /// At least two values, each below the one before.
    static func shrinking(_ values: [Double]) -> Bool {
        values.count > 1 && zip(values, values.dropFirst()).allSatisfy { $1 < $0 }
    }

    static func emergenceMeasured(_ s: Measured.Setting) -> String {
        s.runs.map { r in
            let start = "\(initTitle(r.a0, r.b0)): \(num(r.tableAb)) at step \(r.tableStep)"
            let end = r.longAb.map { "; \(num($0)) at step \(r.longStep ?? 0)" } ?? ""
            return start + end + " (\(pct(r.finalAb / s.sStar - 1)))"
        }.joined(separator: "; ") + "; training-set optimum \(num(s.sampleOptimum)) (\(pct(s.sampleOptimum / s.sStar - 1)))"
    }

    /// "m = 1250 / 5000 / 20000"
    static func counts(_ m: Measured) -> String { "m = " + m.scaling.map { "\($0.count)" }.joined(separator: " / ") }

    /// What the Gaussian off-diagonal entries are, as far as the runs at several m show it: nothing when
    /// they are at rounding; sampling noise only when they shrink as m grows.
    public static func offDiagonalNote(_ m: Measured, largest: Double) -> String {
        guard largest > roundingLevel else { return "" }
        let offs = m.scaling.map(\.maxOffDiagonal)
        let trend = "\(counts(m)): \(offs.map(num).joined(separator: " / "))"
        return shrinking(offs)
            ? ": above rounding (\(num(roundingLevel))) and shrinking as m grows (\(trend)), as sampling noise of a finite training set does"
            : ": above rounding (\(num(roundingLevel))) and not shrinking as m grows (\(trend)), so these runs do not show it to be sampling noise"
    }

    /// Whether the trained model's departure from s²κ3/(t−1) is a floor set by the finite training set, as
    /// far as the runs at several m show it: the ratio at the last position must fall toward 1 as m grows.
    public static func residualFloorNote(_ m: Measured) -> String {
        let ratios = m.scaling.map(\.residualRatioAtEnd)
        guard ratios.count > 1, ratios.allSatisfy(\.isFinite), let last = m.residual?.lastPosition else { return "" }
        let trend = "; at t = \(last) it is \(ratios.map { String(format: "%.3f", $0) }.joined(separator: " / ")) for \(counts(m))"
        return shrinking(ratios.map { abs($0 - 1) })
            ? trend + ", falling toward 1 as m grows: a floor set by the finite training set"
            : trend + ", not falling toward 1 as m grows: these runs do not show a finite-sample floor"
    }

    public static func claims(_ m: Measured) -> [Claim] {
        let tol = "\(Int(stepSizeTolerance * 100))%"
        var claims: [Claim] = []
        let samplingNote = String(format: "; over %d training sets of %d, s_emp/s* − 1 has RMS %.1f%% (range %+.1f%% to %+.1f%%)",
                                  m.samplingDeviations.count, m.samplingCount, 100 * m.samplingRMS,
                                  100 * (m.samplingDeviations.min() ?? .nan), 100 * (m.samplingDeviations.max() ?? .nan))
        for s in criterionSlugs.compactMap(m.setting) {
            claims.append(Claim(statement: "\(s.name): ab → s* = \(num(s.sStar)) within \(tol) from every initialization (continued past \(tableSteps) steps while still moving)",
                                measured: emergenceMeasured(s) + (s.gaussian ? samplingNote : ""),
                                holds: !s.runs.isEmpty && finalGaps(s).allSatisfy { $0 <= stepSizeTolerance }))
        }
        let others = m.settings.filter { !criterionSlugs.contains($0.slug) }
        claims.append(Claim(statement: "the other rows of the table (\(others.map(\.name).joined(separator: ", "))): ab within \(tol) of s*",
                            measured: others.map { s in "\(s.name): largest gap \(pct(finalGaps(s).max() ?? .nan)) (training-set optimum \(pct(s.sampleOptimum / s.sStar - 1)))" }.joined(separator: "; "),
                            holds: !others.isEmpty && others.allSatisfy { finalGaps($0).allSatisfy { $0 <= stepSizeTolerance } }))

        let sparse = m.settings.filter { !$0.gaussian }, gaussian = m.settings.filter(\.gaussian)
        func maxOver(_ ss: [Measured.Setting], _ value: (Measured.Run) -> Double) -> Double {
            ss.flatMap { $0.runs.map(value) }.max() ?? .nan
        }
        let sparseOff = maxOver(sparse, \.maxOffDiagonal), sparseOutside = maxOver(sparse, \.maxOutsideStructure)
        claims.append(Claim(statement: "sparse (data condition, i.i.d. training set): every entry off the diagonals of the d×d blocks stays 0",
                            measured: "largest off-diagonal modulus over all sparse runs and steps: \(num(sparseOff)) (the diagonals of the other blocks reach \(num(sparseOutside)))",
                            holds: sparseOff <= roundingLevel))
        let gaussianOff = maxOver(gaussian, \.maxOffDiagonal), gaussianOutside = maxOver(gaussian, \.maxOutsideStructure)
        claims.append(Claim(statement: "Gaussian (data condition, i.i.d. training set of \(gaussian.first?.trainCount ?? 0)): off-diagonal entries stay at zero to rounding",
                            measured: "largest off-diagonal modulus \(num(gaussianOff)), outside diag(a), diag(b) \(num(gaussianOutside))"
                                + offDiagonalNote(m, largest: gaussianOff),
                            holds: gaussianOff <= roundingLevel))
        claims.append(Claim(statement: "Gaussian σ = 1 on the symmetry orbit of \(m.orbitBaseCount) sequences (\(m.orbitTrainCount) in all): every entry outside diag(a), diag(b) stays at zero to rounding",
                            measured: "largest modulus over \(tableSteps) steps: \(num(m.orbitMaxOutside))",
                            holds: m.orbitMaxOutside <= roundingLevel))

        let sparseErrors = sparse.flatMap { s in s.runs.map { r in (s, r, r.firstTestError / s.kappa0, r.lastTestError / s.kappa0) } }
        claims.append(Claim(statement: "sparse: the test error at the last position goes to zero (below 10⁻⁶ of E‖x_T‖² = c²)",
                            measured: "relative test error, start → end: " + sparseErrors.map { s, r, first, last in "\(s.name) \(initTitle(r.a0, r.b0)): \(num(first)) → \(num(last))" }.joined(separator: "; "),
                            holds: !sparseErrors.isEmpty && sparseErrors.allSatisfy { $0.3 <= 1e-6 }))
        let ratios = gaussian.flatMap { s in s.runs.map { (s, $0.lastRatio) } }
        claims.append(Claim(statement: "Gaussian: the prediction/target ratio at the last position stays near s*σ² (within \(Int(ratioTolerance * 100))%), far from 1: the next token is not recovered",
                            measured: gaussian.map { s in "\(s.name): s*σ² = \(num(s.expectedRatio)), measured \(s.runs.map { num($0.lastRatio) }.joined(separator: " / "))" }.joined(separator: "; "),
                            holds: !ratios.isEmpty && ratios.allSatisfy { abs($0.1 / $0.0.expectedRatio - 1) <= ratioTolerance && $0.1 < 0.5 }))
        if let r = m.residual {
            claims.append(Claim(statement: "Gaussian σ = 1, the theory's model (one-step GD with s*): the part that does not recover x_{t+1}, ŷ_t − s* diag(|x_{1j}|²) x_{t+1}, has mean square s*²κ3/(t−1) → 0 (within \(Int(residualTolerance * 100))% at every t)",
                                measured: String(format: "measured / predicted over t = 2…%d: %.3f–%.3f", r.lastPosition,
                                                 r.theoryRatios.min() ?? .nan, r.theoryRatios.max() ?? .nan),
                                holds: !r.theoryRatios.isEmpty && r.theoryRatios.allSatisfy { abs($0 - 1) <= residualTolerance }))
            let holds = !r.trainedRatios.isEmpty && r.trainedRatios.allSatisfy { abs($0 - 1) <= residualTolerance }
            claims.append(Claim(statement: "Gaussian σ = 1, the trained model from (0.5, 1.5): the same part, with its ab, has mean square s²κ3/(t−1) (within \(Int(residualTolerance * 100))% at every t)",
                                measured: String(format: "measured / predicted: %.3f at t = 2, %.3f at t = %d (%.3g → %.3g)",
                                                 r.trainedRatios.first ?? .nan, r.trainedRatios.last ?? .nan, r.lastPosition,
                                                 r.trainedFirst, r.trainedLast) + (holds ? "" : residualFloorNote(m)),
                                holds: holds))
        }
        let criterion = criterionSlugs.compactMap(m.setting)
        claims.append(Claim(statement: "one step of GD with step s*/(t−1) (built from s*, not from the weights) predicts what the trained model predicts: relative RMS gap over all held-out positions ≤ \(Int(predictorTolerance * 100))%",
                            measured: criterion.map { s in "\(s.name): \(s.runs.map { String(format: "%.2f%%", 100 * $0.gdGap) }.joined(separator: " / "))" }.joined(separator: "; ")
                                + "; Gaussian σ = 1 from (0.5, 1.5) at m = " + m.scaling.map { "\($0.count): \(String(format: "%.2f%%", 100 * $0.gdGap))" }.joined(separator: ", "),
                            holds: !criterion.isEmpty && criterion.allSatisfy { $0.runs.allSatisfy { $0.gdGap <= predictorTolerance } }))
        let offs = m.scaling.map(\.maxOffDiagonal), spreads = m.scaling.map(\.spread)
        claims.append(Claim(statement: "the Gaussian departures from the theory are finite-sample effects: the largest off-diagonal entry and the spread of the a_jb_j shrink as m grows",
                            measured: counts(m) + ": off-diagonal " + offs.map(num).joined(separator: " / ")
                                + "; spread " + spreads.map { String(format: "%.1f%%", 100 * $0) }.joined(separator: " / "),
                            holds: shrinking(offs) && shrinking(spreads)))
        if let largest = m.scaling.last {
            let gap = largest.ab / m.scalingStar - 1
            claims.append(Claim(statement: "Gaussian σ = 1 from (0.5, 1.5) on a larger training set (m = \(largest.count)): ab within \(tol) of s* (the gap at m = \(gaussian.first?.trainCount ?? 0) is the training set's, not the theory's)",
                                measured: "ab \(num(largest.ab)) (\(pct(gap)) from s* = \(num(m.scalingStar))); training-set optimum \(pct(largest.sampleOptimum / m.scalingStar - 1)); GD(s*) gap \(String(format: "%.2f%%", 100 * largest.gdGap))",
                                holds: abs(gap) <= stepSizeTolerance))
        }
        let shares = m.fullOne.map(\.freeOffDiagonalShare)
        claims.append(Claim(statement: "full-one (beyond the data condition): the free weights develop off-diagonal structure (off-diagonal share of ‖W‖² over 10× the Gaussian run's sampling noise)",
                            measured: "off-diagonal share of the squared norm \(shares.map(num).joined(separator: " / ")) (projected: 0; Gaussian σ = 1 i.i.d.: \(num(m.gaussianOffDiagonalShare))); largest off-diagonal entry \(m.fullOne.map { num($0.freeMaxOffDiagonal) }.joined(separator: " / "))",
                            holds: !shares.isEmpty && shares.allSatisfy { $0 > 10 * m.gaussianOffDiagonalShare }))
        claims.append(Claim(statement: "full-one: the free model ends with a lower loss than the projected (diagonal-only) one",
                            measured: m.fullOne.map { r in "\(initTitle(r.a0, r.b0)): training \(num(r.freeLoss)) vs \(num(r.projectedLoss)); held-out \(num(r.freeHeldOut)) vs \(num(r.projectedHeldOut))" }.joined(separator: "; "),
                            holds: !m.fullOne.isEmpty && m.fullOne.allSatisfy { $0.freeLoss < $0.projectedLoss && $0.freeHeldOut < $0.projectedHeldOut }))
        let projectedGaps = m.fullOne.map { $0.projectedAb / m.fullOneStar - 1 }
        claims.append(Claim(statement: "full-one, projected: ab → s* of the full-one moments, \(num(m.fullOneStar)) (the diagonal family's optimum; no data condition needed), within \(tol)",
                            measured: zip(m.fullOne, projectedGaps).map { r, g in "\(initTitle(r.a0, r.b0)): \(num(r.projectedAb)) (\(pct(g)))" }.joined(separator: "; "),
                            holds: !projectedGaps.isEmpty && projectedGaps.allSatisfy { abs($0) <= stepSizeTolerance }))
        return claims
    }
}
