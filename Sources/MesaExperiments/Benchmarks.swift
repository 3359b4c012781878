import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Wall time of one run of `body`, in seconds.
func elapsedSeconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
}

/// CPU seconds of the whole process so far (user + system, every thread).
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Median wall time of `body` over `repeats` runs after `warmup` untimed ones, in seconds.
public func medianTime(repeats: Int, warmup: Int = 2, _ body: () throws -> Void) rethrows -> (median: Double, all: [Double]) {
    for _ in 0..<warmup { try body() }
    var times: [Double] = []
    for _ in 0..<max(1, repeats) { times.append(try elapsedSeconds(body)) }
    let sorted = times.sorted()
    return (sorted[sorted.count / 2], times)
}

/// Times the parts of one training step (SPEC §3) for a configuration. The variants are
/// measured interleaved, one of each per repetition, so that a slow stretch of the machine
/// affects all of them alike; every figure is the median over the repetitions.
public struct StepBenchmark {
    public let config: TrainConfig
    public let repeats: Int
    public let dataGeneration: [Double]
    /// The same batches drawn by the plain definition (`SequenceTask.referenceBatch`).
    public let referenceDataGeneration: [Double]
    public let forward: [Double]
    public let stepWithoutData: [Double]
    public let fullStep: [Double]
    /// The same step (data excluded) with attention composed of whole-batch operations.
    public let composedStep: [Double]
    public let flopsPerStep: Double
    /// Fresh tensor buffers (and their bytes) allocated per training step after the first steps,
    /// over consecutive `trainStep()` calls (the prefetched batches included): the requests the
    /// tensor buffer pool could not serve, each a malloc.
    public var allocationsPerStep = 0.0, allocatedBytesPerStep = 0.0
    /// The process's CPU time (all threads) of each timed step, data excluded: with one thread
    /// (MESA_THREADS=1) robust to other load on the machine.
    public var stepCPU: [Double] = []
    /// The machine's rates, measured after the steps (the achieved rate's fractions).
    public var peak: MachinePeak?

    public static func run(config: TrainConfig, repeats: Int, warmup: Int = 3) throws -> StepBenchmark {
        let trainer = try Trainer(config: config)
        let task = try config.task.makeTask(seed: config.seed)
        let batch = trainer.trainingBatch(step: 0)
        let tokens = config.tokens.tokens(from: batch.inputs)
        var data: [Double] = [], referenceData: [Double] = [], fwd: [Double] = [], step: [Double] = [], full: [Double] = [], composed: [Double] = []
        var stepCPU: [Double] = []
        for rep in 0..<(warmup + max(1, repeats)) {
            let d = elapsedSeconds { _ = trainer.trainingBatch(step: rep + 1) }
            let dr = elapsedSeconds {
                _ = task.referenceBatch(size: config.batchSize, length: config.length, seed: config.seed,
                                        purpose: .trainingBatch, step: rep + 1)
            }
            let f = elapsedSeconds { _ = halfSquaredError(trainer.model(tokens), batch.targets).value.item }
            for p in trainer.model.parameters { p.variable.grad = nil }
            let cpu0 = processCPUSeconds()
            let s = try elapsedSeconds { _ = try trainer.update(on: batch) }
            let sc = processCPUSeconds() - cpu0
            trainer.model.attentionImplementation = .composed
            let c = try elapsedSeconds { _ = try trainer.update(on: batch) }
            trainer.model.attentionImplementation = .fused
            if rep >= warmup {
                data.append(d); referenceData.append(dr); fwd.append(f); step.append(s); composed.append(c)
                stepCPU.append(sc)
            }
        }
        // Whole steps as a training run takes them, one after another: the batch of step k + 1
        // is drawn while step k runs.
        for rep in 0..<(warmup + max(1, repeats)) {
            let u = try elapsedSeconds { _ = try trainer.trainStep() }
            if rep >= warmup { full.append(u) }
        }
        let (count0, bytes0) = (TensorAllocations.count, TensorAllocations.bytes)
        let counted = 5
        for _ in 0..<counted { _ = try trainer.trainStep() }
        var result = StepBenchmark(config: config, repeats: repeats, dataGeneration: data, referenceDataGeneration: referenceData,
                                   forward: fwd, stepWithoutData: step, fullStep: full, composedStep: composed,
                                   flopsPerStep: FlopCount.trainingStep(config))
        result.allocationsPerStep = Double(TensorAllocations.count - count0) / Double(counted)
        result.stepCPU = stepCPU
        result.allocatedBytesPerStep = Double(TensorAllocations.bytes - bytes0) / Double(counted)
        result.peak = MachinePeak.measure()
        return result
    }

    static func median(_ x: [Double]) -> Double { let s = x.sorted(); return s[s.count / 2] }
    static func quartiles(_ x: [Double]) -> (Double, Double) { let s = x.sorted(); return (s[s.count / 4], s[3 * s.count / 4]) }

    public var medianStepWithoutData: Double { Self.median(stepWithoutData) }

    public var report: String {
        let c = config
        func ms(_ x: [Double]) -> String { String(format: "%8.2f ms", Self.median(x) * 1e3) }
        let (q1, q3) = Self.quartiles(stepWithoutData)
        let step = Self.median(stepWithoutData)
        return """
        \(c.preset): \(c.model.layers.map(\.rawValue).joined(separator: "+")), B \(c.batchSize), T \(c.length), \
        D \(c.model.width), H \(c.model.heads), d_k \(c.model.keySize), \(c.microBatches) micro-batch\(c.microBatches == 1 ? "" : "es") per step, \(Parallel.workers) threads, OpenBLAS \(BLASKernels.coreName), \
        median of \(repeats) interleaved repetitions
          data generation        \(ms(dataGeneration))   (range \(String(format: "%.2f–%.2f", dataGeneration.min()! * 1e3, dataGeneration.max()! * 1e3)); the plain reference: \(ms(referenceDataGeneration)); drawn for step k + 1 while step k runs)
          forward                \(ms(forward))
          step, data excluded    \(ms(stepWithoutData))   (forward, backward, AdamW; quartiles \(String(format: "%.2f–%.2f", q1 * 1e3, q3 * 1e3)), fastest \(String(format: "%.2f", stepWithoutData.min()! * 1e3)) ms)
          step CPU time          \(ms(stepCPU))   (every thread's CPU in the step, data excluded; range \(String(format: "%.2f–%.2f", stepCPU.min()! * 1e3, stepCPU.max()! * 1e3)))
          score-core kernels     \(ScoreKernels.description)
          matrix products        \(SmallGemm.description)
          step, data included    \(ms(fullStep))   (consecutive steps as training takes them, after the interleaved ones)
          baseline: step with attention composed of whole-batch operations (data excluded)
                                 \(ms(composedStep))   → fused kernels \(String(format: "%.2f", Self.median(composedStep) / step))x faster
          tensor buffers allocated per step \(String(format: "%.1f (%.1f MiB)", allocationsPerStep, allocatedBytesPerStep / 1_048_576)), after the first steps (fresh buffers from malloc: pool misses; the pool holds \(String(format: "%.0f", Double(TensorPool.shared.heldBytes) / 1_048_576)) MiB of free buffers, limit \(TensorPool.shared.limitBytes >> 20) MiB)
          matrix FLOPs per step  \(String(format: "%.3f", flopsPerStep / 1e9)) GFLOP → \(String(format: "%.1f", flopsPerStep / step / 1e9)) GFLOP/s achieved\(peak.map { ":\n                         " + $0.fractions(of: flopsPerStep / step / 1e9) } ?? "")
        """
    }
}

/// Multiply-add counts of a training step (forward + backward = 3 × forward for every
/// matrix product), the numerator of the GFLOP/s figures in BENCHMARKS.md.
public enum FlopCount {
    public static func forward(_ c: TrainConfig) -> Double {
        let m = c.model
        let rows = Double(c.batchSize * c.length), t = Double(c.length), b = Double(c.batchSize)
        let d = Double(m.width), h = Double(m.heads), dk = Double(m.keySize), dv = Double(m.valueSize)
        var f = 0.0
        if m.embedding { f += 2 * rows * Double(m.dimension) * d * 2 }
        for (i, kind) in m.layers.enumerated() {
            let dqk = d + Double(i == 0 ? m.positionalEncoding : 0)
            f += 2 * rows * dqk * h * dk * 2 + 2 * rows * d * h * dv + 2 * rows * h * dv * d
            f += 2 * b * h * t * t * (dk + dv)  // scores and weighted values (full T×T products)
            if kind == .mesa { f += 2 * b * h * t * 3 * dk * dk }  // Sherman–Morrison updates
            if m.mlp { f += 2 * rows * d * Double(m.mlpHidden) * 2 }
        }
        return f
    }

    public static func trainingStep(_ c: TrainConfig) -> Double { 3 * forward(c) }
}

/// The machine's single-precision matrix-product rate through the BLAS mesa links.
public enum BLASBenchmark {
    public struct Result {
        /// What was measured ("sgemm 1024x1024x1024", "FMA peak (register-only loop)"), on how many threads.
        public let rows: [(what: String, threads: String, gflops: Double)]
        public var report: String {
            "OpenBLAS kernels: \(BLASKernels.coreName)\n" + rows.map {
                "\($0.what.padding(toLength: 30, withPad: " ", startingAt: 0)) \($0.threads.padding(toLength: 30, withPad: " ", startingAt: 0)) \(String(format: "%6.1f", $0.gflops)) GFLOP/s"
            }
                .joined(separator: "\n")
        }
    }

    /// sgemm's rate for A [m, k] · Bᵀ (B [n, k]) over `reps` calls, median of 7: on this thread, or
    /// with the rows split over the workers as mesa's products run (`rowsSplit`).
    public static func rate(m: Int, n: Int, k: Int, reps: Int, rowsSplit: Bool) -> Double {
        let a = Tensor(shape: [m, k], repeating: 0.5, dtype: .float32)
        let b = Tensor(shape: [n, k], repeating: 0.25, dtype: .float32)
        let seconds = medianTime(repeats: 7) {
            for _ in 0..<reps { _ = rowsSplit ? linear(a, b) : matmul(a, b, transposeB: true) }
        }.median
        return 2.0 * Double(m * n * k) * Double(reps) / seconds / 1e9
    }

    public static func run() -> Result {
        var rows: [(String, String, Double)] = []
        let fmaLabel = "FMA peak (register-only loop)"
        rows.append((fmaLabel, "1 thread", MachinePeak.fmaPeak(threads: 1)))
        if Parallel.workers > 1 { rows.append((fmaLabel, "\(Parallel.workers) threads", MachinePeak.fmaPeak(threads: Parallel.workers))) }
        for (m, n, k) in [(1024, 1024, 1024), (12800, 240, 40), (50, 50, 20)] {
            let reps = max(3, Int(2e9 / (2.0 * Double(m * n * k))))
            rows.append(("sgemm \(m)x\(n)x\(k)", "1 thread", rate(m: m, n: n, k: k, reps: reps, rowsSplit: false)))
            // Row-split over all workers, as mesa's kernels run.
            if m >= 1024 {
                rows.append(("sgemm \(m)x\(n)x\(k)", "\(Parallel.workers) threads (rows split)",
                             rate(m: m, n: n, k: k, reps: reps, rowsSplit: true)))
            }
        }
        return Result(rows: rows)
    }
}

/// The rates a training step's is stated against (issue 14: "the achieved fraction of the
/// machine's peak (FMA units × clock, and the measured BLAS rate)"), measured on the spot: the
/// FMA peak of a register-only loop on every worker, and sgemm at a projection's shape
/// (12800×240×40), rows split over the workers as mesa's products run.
public struct MachinePeak {
    public let threads: Int
    public let fmaGFLOPS: Double, sgemmGFLOPS: Double

    public init(threads: Int, fmaGFLOPS: Double, sgemmGFLOPS: Double) {
        (self.threads, self.fmaGFLOPS, self.sgemmGFLOPS) = (threads, fmaGFLOPS, sgemmGFLOPS)
    }

    /// The best of three ~0.1 s runs of the loop (`FMAPeak`).
    public static func fmaPeak(threads: Int) -> Double {
        (0..<3).map { _ in FMAPeak.gflops(threads: threads) }.max() ?? 0
    }

    public static func measure() -> MachinePeak {
        MachinePeak(threads: Parallel.workers, fmaGFLOPS: fmaPeak(threads: Parallel.workers),
                    sgemmGFLOPS: BLASBenchmark.rate(m: 12800, n: 240, k: 40, reps: 10, rowsSplit: true))
    }

    /// "51% of the FMA peak (504.7 GFLOP/s on 2 threads), 64% of sgemm 12800×240×40 (402.6 GFLOP/s)".
    public func fractions(of gflops: Double) -> String {
        func part(_ peak: Double) -> String { peak > 0 ? String(format: "%.0f%%", 100 * gflops / peak) : "–" }
        return "\(part(fmaGFLOPS)) of the FMA peak (\(String(format: "%.1f", fmaGFLOPS)) GFLOP/s on \(threads) thread\(threads == 1 ? "" : "s")), "
            + "\(part(sgemmGFLOPS)) of sgemm 12800×240×40 (\(String(format: "%.1f", sgemmGFLOPS)) GFLOP/s)"
    }
}

/// The mesa-layer alone (SPEC §2): forward and backward over whole-batch tensors, against
/// the reference that solves the normal equations at every position (`naiveMesaAttention`,
/// Double, forward only: it has no backward).
public struct MesaLayerBenchmark {
    public let batch: Int, heads: Int, length: Int, keySize: Int
    public let forward: Double, forwardBackward: Double, naiveForward: Double

    public static func run(batch: Int = 256, heads: Int = 4, length: Int = 50, keySize: Int = 20,
                           repeats: Int) -> MesaLayerBenchmark {
        var s = RandomStream(seed: 1, purpose: .experiment)
        let scale = 1 / Double(keySize).squareRoot()
        let q = Tensor.normal(shape: [batch, length, heads * keySize], std: scale, dtype: .float32, stream: &s)
        let k = Tensor.normal(shape: [batch, length, heads * keySize], std: scale, dtype: .float32, stream: &s)
        let v = Tensor.normal(shape: [batch, length, heads * keySize], std: 1, dtype: .float32, stream: &s)
        let dOut = Tensor.normal(shape: v.shape, std: 1, dtype: .float32, stream: &s)
        let lambda = Tensor(shape: [heads], repeating: 1, dtype: .float32)
        var fwd: [Double] = [], both: [Double] = []
        for rep in 0..<(repeats + 2) {
            let f = elapsedSeconds { _ = mesaAttentionForward(q: q, k: k, v: v, lambda: lambda, heads: heads) }
            let b = elapsedSeconds {
                _ = mesaAttentionForward(q: q, k: k, v: v, lambda: lambda, heads: heads)
                _ = mesaAttentionBackward(dOut: dOut, q: q, k: k, v: v, lambda: lambda, heads: heads)
            }
            if rep >= 2 { fwd.append(f); both.append(b) }
        }
        // The reference is slow: time it on 16 sequences and scale to the batch.
        let few = 16
        let qs = firstSequences(q, few), ks = firstSequences(k, few), vs = firstSequences(v, few)
        let naive = medianTime(repeats: 3, warmup: 1) {
            _ = naiveMesaAttention(q: qs, k: ks, v: vs, lambda: [Double](repeating: 1, count: heads), heads: heads)
        }.median * Double(batch) / Double(few)
        return MesaLayerBenchmark(batch: batch, heads: heads, length: length, keySize: keySize,
                                  forward: StepBenchmark.median(fwd), forwardBackward: StepBenchmark.median(both),
                                  naiveForward: naive)
    }

    /// The first n sequences of a [B, …] tensor, in Double (the reference's input).
    static func firstSequences(_ x: Tensor, _ n: Int) -> Tensor {
        let per = x.count / x.shape[0]
        return Tensor(shape: [n] + Array(x.shape.dropFirst()), Array(x.doubles.prefix(n * per)), dtype: .float64)
    }

    public var report: String {
        """
        mesa-layer alone: B \(batch), H \(heads), T \(length), d_k = d_v = \(keySize), Float32, \(Parallel.workers) threads
          forward                 \(String(format: "%8.2f ms", forward * 1e3))
          forward + backward      \(String(format: "%8.2f ms", forwardBackward * 1e3))
          reference forward (normal equations at every position, Double, one thread)
                                  \(String(format: "%8.1f ms", naiveForward * 1e3))   → fast forward \(String(format: "%.0f", naiveForward / forward))x faster
        """
    }
}
