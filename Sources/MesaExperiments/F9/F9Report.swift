import Foundation
import MesaTensor
import MesaTheory
import MesaTraining

/// F9's report.md (with claims.json, measured.json and the profile as config.json beside it): the claims,
/// the tables of every run, and sentences whose wording follows the measured numbers.
extension FindingF9 {
    func writeReport(measured: Measured, settings: [Setting], fullOne: FullOne, orbit: Orbit, scaling: Scaling,
                     profile: Profile, seed: UInt64, options: ReproductionOptions, seconds: Double, to url: URL) throws {
        let claims = Self.claims(measured)
        let process = ARProcess(initialToken: .fullOne)
        let H = EmergencePrediction.harmonicSum(length: process.length)
        var md = """
        # F9: emergence and capability of one-step GD in a linear causal self-attention ([ZH])

        Claim (ZHENG.md; SPEC §8 F9): a one-layer linear causal self-attention trained by full-batch gradient descent on
        complex AR sequences `x_{t+1} = W x_t` (W a random diagonal unitary) converges, under the data condition, to one
        step of gradient descent on the in-context least-squares loss with step `s*/(t−1)`,
        `s* = (T−2)κ1 / ((T−2)κ2 + H κ3)`; it recovers the next token for the sparse initial token and not for the
        Gaussian one; from the full-one start it becomes a preconditioned (non-diagonal) update. ZHENG.md's limits are a
        derivation from the authors' code; this experiment tests them.

        Profile `\(profile.name)`, seed \(seed): d = \(process.dimension), T = \(process.length) (H = \(Self.num(H))),
        \(profile.trainCount) training\(profile.trainCount < 10_000 ? " (ZHENG.md: 10 000; the `paper` profile uses that)" : "") and \(profile.testCount) held-out sequences per setting,
        exact full-batch complex gradients, the table's step sizes, \(Self.tableSteps) steps per run (ZHENG.md: 120–200); a run whose ab still
        moved by more than \(Self.movingTolerance * 100)% over its last \(Self.movingWindow) steps was continued until it moved by less than
        \(Self.stationaryTolerance) over \(Self.stationaryWindow) steps (at most \(profile.longSteps)); full-one: \(profile.fullOneSteps) steps.
        Total time \(ProgressLine.duration(seconds)) on this machine (\(Parallel.workers) threads). Reproduce with
        `\(command(options))`;
        `runs/*/config.json` and `runs/*/result.json` hold every run's configuration, per-step records and final weights.

        ## Claims

        \(Claim.table(claims))

        ## Emergence: ab against s*

        s* from the exact moments; "optimum" s_emp is the training set's own least-squares step
        (`OneStepGD.bestStepSize`), which differs from s* by the sampling noise of the m training sequences (for the
        Gaussian it depends on sixth moments; see "Finite training sets"). Spread: (max − min)/mean of the per-coordinate Re(a_j b_j).

        | initial token | step size | (a₀, b₀) | ab @ \(Self.tableSteps) | final ab (step) | s* | s_emp | final vs s* | final vs s_emp | spread | max off-diag | max outside diag(a), diag(b) | GD(s*) gap | time |
        |---|---|---|---|---|---|---|---|---|---|---|---|---|---|
        \(settings.flatMap { s in s.runs.map { r -> String in
            let spread = (try? Self.relativeSpread(r.last.model())) ?? .nan
            return "| \(s.distribution) | \(Self.num(s.stepSize)) | (\(r.a0.shortName), \(r.b0.shortName)) | \(Self.num(r.table.final.ab)) | \(Self.num(r.last.final.ab)) (\(r.last.final.step)\(r.long.map { Self.stillMoving($0.records, window: Self.stationaryWindow, tolerance: Self.stationaryTolerance) } == true ? ", still moving" : "")) | \(Self.num(s.prediction.stepSize)) | \(Self.num(s.sampleOptimum)) | \(Self.pct(r.last.final.ab / s.prediction.stepSize - 1)) | \(Self.pct(r.last.final.ab / s.sampleOptimum - 1)) | \(String(format: "%.2g%%", 100 * spread)) | \(Self.num(r.last.final.offDiagonalMax)) | \(Self.num(r.last.final.outsideStructureMax)) | \(String(format: "%.2f%%", 100 * r.profile.gdGapOverall)) | \(String(format: "%.1f s", r.last.seconds)) |"
        } }.joined(separator: "\n"))

        ## Capability: the last position on held-out sequences

        Predicted (ZHENG.md item 2) for the model with ab = s: test error `s²κ2 − 2sκ1 + κ0 + s²κ3/(T−2)`, ratio
        `E Re(ŷ_{T−1,j}/x_{T,j}) = s κ0/d` (= sσ² for the Gaussian; for the sparse token the ratio on the support is s c²,
        1 at s = 1/c²).

        | initial token | (a₀, b₀) | test error (predicted at final ab) | ratio (predicted at final ab) | GD(s*) gap at T−1 |
        |---|---|---|---|---|
        \(settings.flatMap { s in s.runs.map { r -> String in
            let metrics = r.last.probes.last!.metrics, ab = r.last.final.ab
            let predictedError = s.prediction.testError(position: process.length - 1, stepSize: ab)
            let predictedRatio = s.prediction.moments.kappa3 > 0 ? ab * s.prediction.moments.kappa0 / Double(process.dimension)
                                                                  : ab * s.prediction.moments.kappa0
            return "| \(s.distribution) | (\(r.a0.shortName), \(r.b0.shortName)) | \(Self.num(metrics.testError)) (\(Self.num(predictedError))) | \(Self.num(metrics.ratio)) (\(Self.num(predictedRatio))) | \(String(format: "%.2f%%", 100 * metrics.gdGap)) |"
        } }.joined(separator: "\n"))

        ## Beyond the data condition: full-one

        | (a₀, b₀) | run | final training loss | held-out loss | ab | off-diagonal share of ‖W‖² | max off-diag | time |
        |---|---|---|---|---|---|---|---|
        \(zip(fullOne.runs, fullOne.heldOutLoss).flatMap { r, h in [("free", r.free, h.free), ("projected", r.projected, h.projected)].map { name, run, held -> String in
            let share = (try? run.model().offDiagonalShare) ?? .nan
            return "| (\(r.a0.shortName), \(r.b0.shortName)) | \(name) | \(Self.num(run.final.loss)) | \(Self.num(held)) | \(Self.num(run.final.ab)) | \(Self.num(share)) | \(Self.num(run.final.offDiagonalMax)) | \(String(format: "%.1f s", run.seconds)) |"
        } }.joined(separator: "\n"))

        The projected model is the diagonal family, whose optimum is s* computed from the full-one moments
        (κ0 = κ1 = κ2 = d, κ3 = d(d−1)): \(Self.num(fullOne.prediction.stepSize)).

        ## Finite training sets

        ZHENG.md's structure and limit are statements about the expected loss; a finite i.i.d. training set has its own
        optimum s_emp. \(Self.samplingSentence(measured)) \(Self.scalingSentence(measured))
        Gaussian σ = 1 from (0.5, 1.5), \(profile.scalingSteps) steps, the same held-out set:

        | m | ab | vs s* | vs s_emp | spread | max off-diag | max outside diag(a), diag(b) | GD(s*) gap | time |
        |---|---|---|---|---|---|---|---|---|
        \(scaling.points.map { p -> String in
            let spread = (try? Self.relativeSpread(p.run.model())) ?? .nan
            return "| \(p.count) | \(Self.num(p.run.final.ab)) | \(Self.pct(p.run.final.ab / scaling.prediction.stepSize - 1)) | \(Self.pct(p.run.final.ab / p.sampleOptimum - 1)) | \(String(format: "%.2g%%", 100 * spread)) | \(Self.num(p.run.final.offDiagonalMax)) | \(Self.num(p.run.final.outsideStructureMax)) | \(String(format: "%.2f%%", 100 * p.profile.gdGapOverall)) | \(String(format: "%.1f s", p.run.seconds)) |"
        }.joined(separator: "\n"))

        \(Self.orbitSentence(measured, ab: orbit.run.final.ab, sampleOptimum: orbit.sampleOptimum))
        \(Self.sparseSentence(measured))

        ## Figures

        Every figure has its CSV (and gnuplot script) beside it in `figures/`.

        \(settings.map { s in "- \(s.distribution): ![ab](figures/ab-\(s.distribution.slug).png) ![last position](figures/last-position-\(s.distribution.slug).png) ![positions](figures/positions-\(s.distribution.slug).png) ![weights](figures/weights-\(s.distribution.slug).png)" }.joined(separator: "\n"))
        - full-one: ![loss](figures/full-one-loss.png) ![ab](figures/full-one-ab.png) \(fullOne.runs.map { "![weights](figures/weights-full-one-a\($0.a0.shortName)-b\($0.b0.shortName).png)" }.joined(separator: " "))
        - structure: ![entries kept at zero](figures/structure.png)

        ## Notes

        - **ab** is the mean over coordinates of Re(a_j b_j), a_j the diagonal of block (2,1) of W^{KQ} and b_j that of
          block (1,1) of W^{PV}; ratios average Re(ŷ_{t,j}/x_{t+1,j}) over coordinates with x_{t+1,j} ≠ 0; the GD(s*) gap is
          (Σ‖ŷ − ŷ^{GD}‖² / Σ‖ŷ^{GD}‖²)^{1/2} over held-out sequences and positions t = 2…T−1.
        - **Gradients** are exact (the lane kernel is tested against a reference implementation and central differences);
          results do not depend on the number of threads.

        ## Verdict

        \(claims.allSatisfy(\.holds) ? "Every claim held." : "Not every claim held: \(claims.filter { !$0.holds }.count) of \(claims.count) rows say **not matched**; the tables above give the numbers.")

        """
        md = md.replacingOccurrences(of: "\n\n\n", with: "\n\n")
        try Report.write(md, claims: claims, to: url)
        try AtomicFile.writeJSON(measured, to: url.deletingLastPathComponent().appendingPathComponent("measured.json"))
        try AtomicFile.writeJSON(claims, to: url.deletingLastPathComponent().appendingPathComponent("claims.json"))
        try AtomicFile.writeJSON(profile, to: url.deletingLastPathComponent().appendingPathComponent("config.json"))
    }

    /// The sampling spread of s_emp, and what it means for the 2% criterion at this m.
    static func samplingSentence(_ m: Measured) -> String {
        let spread = "Over \(m.samplingDeviations.count) training sets of \(m.samplingCount) (Gaussian σ = 1), s_emp/s* − 1 is "
            + m.samplingDeviations.map { String(format: "%+.1f%%", 100 * $0) }.joined(separator: ", ")
            + String(format: " (RMS %.1f%%)", 100 * m.samplingRMS)
        let tol = "\(Int(stepSizeTolerance * 100))%"
        return m.samplingRMS > stepSizeTolerance
            ? spread + ", more than the \(tol) criterion: at this m the criterion on the Gaussian ab tests the training set as much as the theory."
            : spread + ", within the \(tol) criterion."
    }

    /// Whether the Gaussian runs' off-diagonal entries and untied a_j b_j shrink with m.
    static func scalingSentence(_ m: Measured) -> String {
        let offs = m.scaling.map(\.maxOffDiagonal), spreads = m.scaling.map(\.spread)
        return shrinking(offs) && shrinking(spreads)
            ? "The off-diagonal entries and the spread of the a_j b_j of the i.i.d. Gaussian runs shrink as m grows."
            : "The off-diagonal entries and the spread of the a_j b_j of the i.i.d. Gaussian runs do not both shrink as m grows here."
    }

    /// The symmetry orbit realizes the expectation identities on a finite set; whether its weights keep the
    /// structure to rounding is read off the run.
    static func orbitSentence(_ m: Measured, ab: Double, sampleOptimum: Double) -> String {
        let what = "The symmetry orbit (every sequence with its 2^d coordinate sign flips of x_1 and three common phase shifts of θ) realizes the expectation identities behind the structure on a finite set"
        let kept = m.orbitMaxOutside <= roundingLevel
            ? ": there every entry outside diag(a), diag(b) stays at zero to rounding (largest \(num(m.orbitMaxOutside)))."
            : ", yet there the largest entry outside diag(a), diag(b) reaches \(num(m.orbitMaxOutside)), above rounding."
        let star = m.setting("gaussian-sigma1")?.sStar ?? m.scalingStar
        return what + kept + " Its moments come from \(m.orbitBaseCount) base draws: its ab is \(num(ab)) (\(pct(ab / star - 1)) from s*), its tied-family optimum \(num(sampleOptimum)) (\(pct(sampleOptimum / star - 1)))."
    }

    /// The sparse token's block diagonals, kept or not on this training set.
    static func sparseSentence(_ m: Measured) -> String {
        let off = m.settings.filter { !$0.gaussian }.flatMap { $0.runs.map(\.maxOffDiagonal) }.max() ?? .nan
        return off <= roundingLevel
            ? "The sparse runs keep the block diagonals to rounding (largest off-diagonal modulus \(num(off))), as one active coordinate per sequence, kept by W, implies on any training set."
            : "The sparse runs leave the block diagonals (largest off-diagonal modulus \(num(off)))."
    }
}
