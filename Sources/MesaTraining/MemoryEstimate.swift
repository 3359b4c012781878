import Foundation
import MesaNN
import MesaTensor

/// The memory a run will need, estimated from its configuration alone so that a run that
/// cannot fit is refused with a message before anything is allocated or written (allocation
/// failure is otherwise a crash with a backtrace, and a half-made run directory).
///
///     parameters  P ≈ 2nD (embedding, read-out) + L·[H(2d_k + 2d_v)D + 2D·D_mlp]
///     state       4 copies of P (weights, gradients, AdamW m and v), Float32, and one
///                 gradient copy per micro-batch
///     activations per layer and sequence ≈ T·(12D + 3D_mlp + 4H(d_k + d_v)) + 2H·T²
///                 (the T² term only for a layer that keeps its T×T weights for the
///                 backward: softmax up to T 256, and linear in its quadratic form; linear and
///                 mesa beyond the chunked form's switch point keep nothing T×T)
///     training    every layer's activations for the sequences whose forward and backward
///                 run at once: a micro-batch per lane (`MicroBatches`: min(workers, pieces),
///                 or one piece at a time when the workers are at least twice the pieces)
///     evaluation  two layers' activations (and one layer's T×T weights where layers keep
///                 them) for the held-out sequences in flight (a chunk per lane, or the whole
///                 held-out batch at once for objectives that do not split batches), on top
///                 of the training step's buffers, which the tensor pool keeps
///     data        the training batch, the next one drawn beside it, the held-out batch
///
/// It errs high by design: a refused run that would have fitted is a clear message, a run
/// started that cannot fit is a crash. Measured (BENCHMARKS.md, Speed II, stop 23): softmax-7 at
/// T 800 peaks at 2.6 GiB and is estimated at 5.7 GiB; before the micro-batches and chunks
/// were counted the estimate was 34.7 GiB, and a 24 GiB machine refused the run.
public struct MemoryEstimate {
    public let bytes: Double
    /// Sequences whose activations of every layer are kept at once by a training step.
    public let trainingSequences: Int
    /// Held-out sequences whose forwards run at once.
    public let evaluationSequences: Int

    /// `splitsBatches`: the objective trains on `config.microBatches` pieces and evaluates in
    /// chunks of `Trainer.defaultEvaluationChunk` (`NextStatePrediction`); false: the whole
    /// training batch and the whole held-out batch at once (prompt tuning, language models).
    /// `workers`: the threads the run will use.
    public init(_ config: TrainConfig, splitsBatches: Bool, workers: Int = Parallel.workers) {
        let m = config.model
        let (n, d, h) = (Double(m.dimension), Double(m.width), Double(m.heads))
        let (dk, dv, layers) = (Double(m.keySize), Double(m.valueSize), Double(m.layers.count))
        let hidden = m.mlp ? Double(m.mlpHidden) : 0
        let t = Double(config.length)
        let parameters = 2 * n * d + layers * (h * (2 * dk + 2 * dv) * d + 2 * d * hidden + 4 * d)
        let keptWeights = m.layers.filter { kind in
            AttentionSpec(kind: kind, heads: m.heads).core.keepsWeights(length: config.length, keySize: m.keySize,
                                                                        valueSize: m.valueSize)
        }.count
        let perLayer = t * (12 * d + 3 * hidden + 4 * h * (dk + dv))
        let perSequence = layers * perLayer + Double(keptWeights) * 2 * h * t * t + 4 * t * d
        let workers = max(1, workers)

        // Sizes as large as Int holds (a config.json can say anything): no sum or product may trap.
        func ceilDiv(_ a: Int, _ b: Int) -> Int { (a - 1) / b + 1 }
        func times(_ a: Int, _ b: Int) -> Int { let (p, o) = a.multipliedReportingOverflow(by: b); return o ? .max : p }
        let batch = max(1, config.batchSize)
        let pieces = splitsBatches ? min(max(1, config.microBatches), batch) : 1
        trainingSequences = times(ceilDiv(batch, pieces), MicroBatches.lanes(pieces, workers: workers))

        let heldOut = max(1, config.evalBatchSize)
        let chunk = splitsBatches ? min(Trainer.defaultEvaluationChunk(config), heldOut) : heldOut
        let chunks = ceilDiv(heldOut, chunk)
        evaluationSequences = times(chunk, chunks == 1 ? 1 : min(workers, chunks))

        let state = (4 + Double(pieces)) * parameters
        let activations = perSequence * Double(trainingSequences)
            + (2 * perLayer + (keptWeights > 0 ? 2 * h * t * t : 0) + 4 * t * d) * Double(evaluationSequences)
        let data = 2 * t * (n + 1) * (2 * Double(batch) + Double(heldOut))
        bytes = 4 * (state + activations + data)
    }

    /// Memory this process may still use: MemAvailable, lowered to the cgroup's limit when it
    /// has one. nil when neither can be read.
    public static func available() -> Double? {
        var best: Double?
        if let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
            best = kb * 1024
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let limit = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            let used = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.current", encoding: .utf8))
                .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            best = min(best ?? .infinity, limit - used)
        }
        return best
    }

    /// Throws `TrainingError.outOfMemory` when the estimate exceeds what is available.
    public func check(available: Double? = MemoryEstimate.available()) throws {
        guard let available, bytes > available else { return }
        throw TrainingError.outOfMemory(needed: bytes, available: available)
    }

    /// "1.5 GiB", "300 MiB".
    public static func format(_ bytes: Double) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = bytes, i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return String(format: v >= 1e4 ? "%.3g" : "%.1f", v) + " " + units[i]
    }
}
