import Foundation
import MesaTasks
import MesaTensor
import MesaTraining

/// Two configurations' training steps (data excluded) in one process, alternating step by step
/// (`mesa bench --versus field=value`): A, B in even repetitions and B, A in odd ones, so both see
/// the same phases of a machine whose speed swings within minutes, and neither always runs first
/// after the other's buffers. The figure to read is the median of the per-repetition ratios B / A:
/// each ratio compares two steps taken milliseconds apart. It answers questions about the
/// configuration (the micro-batch count, say; not the thread count, which is not a field of it),
/// which `scripts/pair-ab.sh`, comparing whole processes seconds apart, resolves only to about
/// ±10%. With the same configuration on both sides (an A/A run) the ratios show the noise floor.
public struct VersusBenchmark {
    public let base: TrainConfig, variant: TrainConfig
    /// The fields that differ, "path: A → B" (empty for an A/A run).
    public let changes: [String]
    /// Wall seconds of each timed repetition's step, per side (index = repetition).
    public let baseSeconds: [Double], variantSeconds: [Double]
    /// The process's CPU seconds (every thread) of each timed step, per side.
    public let baseCPU: [Double], variantCPU: [Double]

    public init(base: TrainConfig, variant: TrainConfig, baseSeconds: [Double], variantSeconds: [Double],
                baseCPU: [Double], variantCPU: [Double]) {
        precondition(baseSeconds.count == variantSeconds.count && baseCPU.count == baseSeconds.count
                     && variantCPU.count == baseSeconds.count && !baseSeconds.isEmpty, "one figure per side and repetition")
        self.base = base
        self.variant = variant
        changes = ConfigJSON.differences(base, variant)
        self.baseSeconds = baseSeconds
        self.variantSeconds = variantSeconds
        self.baseCPU = baseCPU
        self.variantCPU = variantCPU
    }

    /// Times `repeats` alternating pairs after `warmup` untimed ones (both sides' first steps
    /// fill the tensor pool and fault their pages in).
    public static func run(base: TrainConfig, variant: TrainConfig, repeats: Int, warmup: Int = 3,
                           progress: ((String) -> Void)? = nil) throws -> VersusBenchmark {
        let sides = try [base, variant].map { c -> (Trainer, SequenceBatch) in
            let trainer = try Trainer(config: c)
            return (trainer, trainer.trainingBatch(step: 0))
        }
        var wall: [[Double]] = [[], []], cpu: [[Double]] = [[], []]
        let total = warmup + max(1, repeats)
        var lastReport = Date()
        for rep in 0..<total {
            for side in rep % 2 == 0 ? [0, 1] : [1, 0] {
                let (trainer, batch) = sides[side]
                for p in trainer.model.parameters { p.variable.grad = nil }
                let cpu0 = processCPUSeconds()
                let s = try elapsedSeconds { _ = try trainer.update(on: batch) }
                let c = processCPUSeconds() - cpu0
                if rep >= warmup {
                    wall[side].append(s)
                    cpu[side].append(c)
                }
            }
            if let progress, Date().timeIntervalSince(lastReport) >= 2 || rep == total - 1 {
                progress("versus: repetition \(rep + 1) of \(total) (\(warmup) untimed)")
                lastReport = Date()
            }
        }
        return VersusBenchmark(base: base, variant: variant, baseSeconds: wall[0], variantSeconds: wall[1],
                               baseCPU: cpu[0], variantCPU: cpu[1])
    }

    /// B / A of each repetition, wall time.
    public var ratios: [Double] { zip(variantSeconds, baseSeconds).map { $0 / $1 } }
    /// B / A of each repetition, CPU time.
    public var cpuRatios: [Double] { zip(variantCPU, baseCPU).map { $0 / $1 } }

    /// The middle of the sorted values, or the mean of the two middle ones (the default 20 pairs
    /// are even; `StepBenchmark.median` takes the upper one).
    static func median(_ x: [Double]) -> Double {
        let s = x.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    public var report: String {
        func ms(_ x: [Double]) -> String {
            let (q1, q3) = StepBenchmark.quartiles(x)
            return String(format: "%8.2f ms (quartiles %.2f–%.2f)", Self.median(x) * 1e3, q1 * 1e3, q3 * 1e3)
        }
        func ratio(_ x: [Double]) -> String {
            let (q1, q3) = StepBenchmark.quartiles(x)
            return String(format: "%.3f (quartiles %.3f–%.3f, range %.3f–%.3f)", Self.median(x), q1, q3, x.min()!, x.max()!)
        }
        let what = changes.isEmpty ? "the same configuration on both sides (A/A: the ratios show the noise)"
                                   : changes.joined(separator: "; ")
        return """
        \(base.preset): A against B = A with \(what); \(Parallel.workers) threads, \(baseSeconds.count) alternating pairs \
        (A B, then B A), step with data excluded
          A                      \(ms(baseSeconds))
          B                      \(ms(variantSeconds))
          B / A, per pair        \(ratio(ratios))
          B / A, CPU per pair    \(ratio(cpuRatios))
        """
    }
}
