import Foundation
import MesaAnalysis
import MesaTraining

extension FindingF2 {
    func writeReport(_ results: [DepthResult], measured: Measured, gdOneStepSize: Double, seeds: [UInt64],
                     options: ReproductionOptions, to url: URL) throws {
        let profile = options.profile
        let claims = Self.claims(measured)
        let c = try Self.config(depth: results[0].depth, profile: profile, seed: seeds[0])
        let paper = try Self.config(depth: results[0].depth, profile: "paper", seed: seeds[0])
        let prop2 = try Self.prop2Fit(depth: results[0].depth, profile: profile, seed: seeds[0]).train
        let compressed = try Self.compressedFit(depth: results[0].depth, profile: profile, seed: seeds[0]).train
        var differences: [String] = []
        if seeds.count != 5 { differences.append("\(seeds.count) seed(s) instead of the paper's 5") }
        if c.steps != paper.steps { differences.append("\(c.steps) training steps instead of \(paper.steps)") }
        if c.batchSize != paper.batchSize { differences.append("batch \(c.batchSize) instead of \(paper.batchSize)") }
        if c.length != paper.length { differences.append("sequences of \(c.length) instead of \(paper.length)") }
        if c.microBatches != paper.microBatches {
            differences.append("linear-\(results[0].depth)'s gradient summed over \(c.microBatches) micro-batches instead of \(paper.microBatches)")
        }
        if c.schedule != paper.schedule {
            differences.append("learning rate peak \(c.schedule.peak), warm-up \(c.schedule.warmupSteps), cosine horizon \(c.schedule.horizon) instead of \(paper.schedule.peak), \(paper.schedule.warmupSteps), \(paper.schedule.horizon)")
        }
        if !Self.depths(profile: profile).elementsEqual([2, 4, 6]) { differences.append("depths \(Self.depths(profile: profile)) instead of 2, 4, 6") }
        let interpolation = Self.interpolationDepths(profile: profile)
        if !interpolation.elementsEqual(Self.depths(profile: profile)) {
            differences.append("the interpolation test at depth(s) \(interpolation.map(String.init).joined(separator: ", ")) only")
        }

        var md = """
        # F2: deeper linear Transformers run more steps of a preconditioned optimizer

        Claim ([VO] §3, Prop. 2; SPEC §8 F2): linear-k (k linear self-attention layers, 4 heads, constructed tokens
        `[0, s_t, s_t, s_{t−1}]`, clipping 1.5) gets better with depth and is matched by k-step Prop-2 (k − 1 learned
        preconditioning steps, then one GD step) and by CompressedAlg-k (the same depth with 16 + 16 scalars per head).

        Profile `\(profile)`, \(seeds.count) seed(s). Reproduce with `\(command(options))`.
        Models: \(c.steps) steps at batch \(c.batchSize). Prop-2: \(prop2.steps) AdamW steps on its α, β, μ, η (batch
        \(prop2.batchSize), peak \(prop2.schedule.peak)), from GD-1. CompressedAlg-k: \(compressed.steps) steps at batch
        \(compressed.batchSize), peak \(compressed.schedule.peak). k-step GD: η line-searched on the validation batch.
        All curves are on the first seed's held-out batch of \(c.evalBatchSize) sequences (T = \(c.length)).

        Differs from the paper: \(differences.joined(separator: "; ")).

        \(Claim.table(claims))

        | depth k | linear-k (seeds) | Prop-2 | CompressedAlg-k | k-step GD | GD-1 | LSQ |
        |---|---|---|---|---|---|---|
        \(measured.depths.map { d in
            String(format: "| %d | %.4f (%@) | %.4f | %.4f | %.4f | %.4f | %.4f |", d.depth, d.meanModel,
                   d.model.map { String(format: "%.4f", $0) }.joined(separator: ", "), d.prop2, d.compressed, d.multiStepGD,
                   measured.gdOne, measured.lsq)
        }.joined(separator: "\n"))

        GD-1's η = \(String(format: "%.4g", gdOneStepSize)).

        """
        for r in results {
            let p = r.fittedProp2
            md += """

            ## linear-\(r.depth)

            ![loss per position](per_position_loss_linear-\(r.depth).png)

            Data: `per_position_loss_linear-\(r.depth).csv`; runs `linear-\(r.depth)-sSEED/`, `prop2-\(r.depth)/result.json`,
            `compressed-\(r.depth)/result.json` (the 16 + 16 scalars per head and layer).
            Prop-2's fitted step sizes: α = \(p.map { $0.alpha.map { String(format: "%.4g", $0) }.joined(separator: ", ") } ?? "—"),
            β = \(p.map { $0.beta.map { String(format: "%.4g", $0) }.joined(separator: ", ") } ?? "—"),
            μ = \(p.map { String(format: "%.4g", $0.mu) } ?? "—"), η = \(p.map { String(format: "%.4g", $0.eta) } ?? "—").

            """
        }
        md += """

        ## Verdict

        \(claims.allSatisfy(\.holds) ? "Every claim held." : "Not every claim held; the table above says which and by how much.")
        A match means a mean-loss gap of at most \(Int(Self.matchTolerance * 100))%. The interpolation test
        (SPEC §5.3) trains, from scratch and like the model, a linear-k model whose products are the average of
        free heads' (d_k = \(4 * c.task.dimension)) and CompressedAlg-k's; its held-out mean loss is in the claim table.

        """
        try Report.write(md, claims: claims, to: url)
    }
}
