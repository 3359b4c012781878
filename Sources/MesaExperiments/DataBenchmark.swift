import Foundation
import MesaTasks
import MesaTensor
import MesaTraining

/// Drawing a training batch (issue 14, `mesa bench --data`): the fast path against the plain
/// reference (`SequenceTask.referenceBatch`), interleaved, on one thread and on all workers,
/// in CPU time of the calling thread (one thread: robust to other load) and wall time; beside
/// them the floor no bit-identical generator can go below, the C library's log, sqrt, sin and
/// cos of the batch's Box–Muller pairs (their count measured from the stream positions).
/// The "fast" and "reference" lines time the version-1 stream (`task.normals` absent or
/// "box-muller": runs written before the presets switched, and the kinds without another
/// stream). Beside it, the vectorized sampler (`task.normals` "vectorized", `NormalSampler`,
/// what the presets of kinds lds and lds-fixed write): its batch, its normals alone, and the
/// issue's target (≤ 1 ms per batch, judged on the one-thread CPU time).
public struct DataBenchmark {
    public let config: TrainConfig
    public let fastCPU: [Double], referenceCPU: [Double]
    public let fastWall: [Double], referenceWall: [Double]
    public let libmCPU: [Double]
    public let pairs: Int
    /// The vectorized sampler's batch (one thread, CPU; all workers, wall) and its normals alone.
    public let vectorizedCPU: [Double], vectorizedWall: [Double], vectorizedNormalsCPU: [Double]
    /// The task kind the vectorized sampler was timed on: the configuration's, or "lds" for a
    /// kind that has no vectorized stream.
    public var vectorizedKind = "lds"
    /// The same batches through the portable Swift path (no AVX-512 lane kernels: what
    /// MESA_KERNELS=portable or a CPU without AVX-512 runs), one thread,
    /// CPU time, interleaved with the rest; empty when the lane kernels do not run here.
    public var portableCPU: [Double] = [], portableVectorizedCPU: [Double] = []
    public static let targetSeconds = 1e-3

    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    static func cpuTime(_ body: () -> Void) -> Double {
        let t0 = threadCPUSeconds()
        body()
        return threadCPUSeconds() - t0
    }

    public static func run(config: TrainConfig, repeats: Int) throws -> DataBenchmark {
        var plainConfig = config.task, vectorConfig = config.task
        plainConfig.normals = nil
        vectorConfig.normals = NormalSampler.vectorized.rawValue
        let task = try plainConfig.makeTask(seed: config.seed)
        if !TaskConfig.vectorizedKinds.contains(vectorConfig.kind) { vectorConfig.kind = "lds" }
        let vectorTask = try vectorConfig.makeTask(seed: config.seed)
        let (b, t, seed) = (config.batchSize, config.length, config.seed)
        // Box–Muller pairs per sequence of the LDS: n² (teacher) + n·T (noise) normals.
        let n = task.dimension
        let pairs = b * ((n * n + n * t + 1) / 2)
        var u = RandomStream(seed: 1, purpose: .experiment)
        let uniforms = (0..<(2 * pairs)).map { _ in max(u.uniform(), 1e-300) }
        var fc: [Double] = [], rc: [Double] = [], fw: [Double] = [], rw: [Double] = [], lc: [Double] = []
        var vc: [Double] = [], vw: [Double] = [], vn: [Double] = [], pc: [Double] = [], pv: [Double] = []
        let lanes = LaneKernels.enabled
        let ldsTask = task as? LinearDynamicalSystem, ldsVectorTask = vectorTask as? LinearDynamicalSystem
        var sink = 0.0
        let normalsOut = UnsafeMutablePointer<Double>.allocate(capacity: 2 * pairs)
        defer { normalsOut.deallocate() }
        for rep in 0..<(repeats + 2) {
            let (f, r, v) = Parallel.withWorkers(1) {
                (cpuTime { _ = task.batch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) },
                 cpuTime { _ = task.referenceBatch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) },
                 cpuTime { _ = vectorTask.batch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) })
            }
            if lanes, let lt = ldsTask, let lv = ldsVectorTask {
                let (p1, p2) = Parallel.withWorkers(1) {
                    (cpuTime { _ = lt.makeBatch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep,
                                                 dtype: .float32, lanes: false) },
                     cpuTime { _ = lv.makeBatch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep,
                                                 dtype: .float32, lanes: false) })
                }
                if rep >= 2 { pc.append(p1); pv.append(p2) }
            }
            let vnormals = cpuTime {
                VectorNormals.normals(2 * pairs, firstBlock: 0, counter: SIMD4(0, 0, UInt32(rep), 5), key: SIMD2(1, 0),
                                      into: normalsOut)
            }
            sink += normalsOut[pairs]
            let l = cpuTime {
                var acc = 0.0
                for i in 0..<pairs {
                    let radius = (-2 * Double.log(uniforms[2 * i])).squareRoot()
                    let angle = 2 * Double.pi * uniforms[2 * i + 1]
                    acc += radius * Foundation.sin(angle) + radius * Foundation.cos(angle)
                }
                sink += acc
            }
            let w1 = elapsedSeconds { _ = task.batch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) }
            let w2 = elapsedSeconds { _ = task.referenceBatch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) }
            let w3 = elapsedSeconds { _ = vectorTask.batch(size: b, length: t, seed: seed, purpose: .trainingBatch, step: rep) }
            if rep >= 2 {
                fc.append(f); rc.append(r); lc.append(l); fw.append(w1); rw.append(w2)
                vc.append(v); vw.append(w3); vn.append(vnormals)
            }
        }
        precondition(sink.isFinite)
        var result = DataBenchmark(config: config, fastCPU: fc, referenceCPU: rc, fastWall: fw, referenceWall: rw,
                             libmCPU: lc, pairs: pairs, vectorizedCPU: vc, vectorizedWall: vw, vectorizedNormalsCPU: vn)
        result.vectorizedKind = vectorConfig.kind
        result.portableCPU = pc
        result.portableVectorizedCPU = pv
        return result
    }

    public var report: String {
        let m = StepBenchmark.median
        func line(_ name: String, _ x: [Double]) -> String {
            name.padding(toLength: 46, withPad: " ", startingAt: 0)
                + String(format: "%7.3f ms  (range %.3f–%.3f)", m(x) * 1e3, x.min()! * 1e3, x.max()! * 1e3)
        }
        let portable = portableCPU.isEmpty ? "  (AVX-512 lane kernels not running: the fast path is the portable Swift path)"
            : line("  fast, portable Swift, 1 thread, CPU time", portableCPU)
                + String(format: "   → lanes %.2fx faster", m(portableCPU) / m(fastCPU))
        let portableVectorized = portableVectorizedCPU.isEmpty ? ""
            : line("  vectorized, portable Swift, 1 thread, CPU", portableVectorizedCPU)
                + String(format: "   → lanes %.2fx faster", m(portableVectorizedCPU) / m(vectorizedCPU)) + "\n"
        return """
        batch of \(config.batchSize) sequences, T \(config.length), task \(config.task.kind), median of \(fastCPU.count) interleaved repetitions
        version-1 normals (task.normals absent or "box-muller": older runs, kinds without the vectorized stream)
        \(line("  fast, 1 thread, CPU time", fastCPU))
        \(portable)
        \(line("  reference, 1 thread, CPU time", referenceCPU))   → \(String(format: "%.2f", m(referenceCPU) / m(fastCPU)))x
        \(line("  log + sqrt + sin + cos of \(pairs) pairs (floor)", libmCPU))   → \(String(format: "%.0f", 100 * m(libmCPU) / m(fastCPU)))% of the fast path
        \(line("  fast, \(Parallel.workers) threads, wall", fastWall))
        \(line("  reference, \(Parallel.workers) threads, wall", referenceWall))
        vectorized normals (task.normals "vectorized", stream version 2, the presets' default for lds kinds; task \(vectorizedKind): same law, values within ulps)
        \(line("  vectorized, 1 thread, CPU time", vectorizedCPU))\(vectorizedKind == config.task.kind ? String(format: "   → %.2fx the fast path", m(fastCPU) / m(vectorizedCPU)) : "   (another task than the fast path's)")
        \(portableVectorized)\(line("  its \(2 * pairs) normals alone", vectorizedNormalsCPU))   → \(String(format: "%.0f", 100 * m(vectorizedNormalsCPU) / m(vectorizedCPU)))% of its batch
        \(line("  vectorized, \(Parallel.workers) threads, wall", vectorizedWall))
        target ≤ \(String(format: "%.0f", Self.targetSeconds * 1e3)) ms per batch, one thread, CPU time: \(targetVerdict)
        """
    }

    /// "matched" when the median one-thread CPU time of the vectorized batch is within the target.
    public var targetVerdict: String {
        let v = StepBenchmark.median(vectorizedCPU)
        return (v <= Self.targetSeconds ? "matched" : "not matched")
            + String(format: " (measured %.3f ms, range %.3f–%.3f)", v * 1e3, vectorizedCPU.min()! * 1e3, vectorizedCPU.max()! * 1e3)
    }
}
