import Foundation
import MesaNN

/// The memory a run will need, estimated from its configuration alone so that a run that
/// cannot fit is refused with a message before anything is allocated or written (allocation
/// failure is otherwise a crash with a backtrace, and a half-made run directory).
///
///     parameters  P ≈ 2nD (embedding, read-out) + L·[H(2d_k + 2d_v)D + 2D·D_mlp]
///     state       4 copies of P (weights, gradients, AdamW m and v), Float32
///     activations per layer and sequence ≈ T·(12D + 3D_mlp + 4H(d_k + d_v)) + 2H·T²
///                 (the T² term only for a layer that keeps its T×T weights for the
///                 backward: softmax, and linear in its quadratic form; linear and mesa
///                 beyond the chunked form's switch point keep nothing T×T), for
///                 max(batch, evalBatch) sequences
///
/// It errs high by design: a refused run that would have fitted is a clear message, a run
/// started that cannot fit is a crash.
public struct MemoryEstimate {
    public let bytes: Double

    public init(_ config: TrainConfig) {
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
        let perSequence = layers * t * (12 * d + 3 * hidden + 4 * h * (dk + dv)) + Double(keptWeights) * 2 * h * t * t + 4 * t * d
        let sequences = Double(max(config.batchSize, config.evalBatchSize))
        bytes = 4 * (4 * parameters + perSequence * sequences)
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
