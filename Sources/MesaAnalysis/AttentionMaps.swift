import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// Attention maps of softmax layers averaged over a held-out batch (SPEC §5.5): [VO] finds
/// that the first softmax layer of a model on unconstructed tokens attends to t and t−1,
/// i.e. builds the [s_t, s_{t−1}] tokens that the constructed experiments hand over.
public struct AttentionMaps {
    /// By layer index: [H, T, T], row t the query position, column t' the key position.
    public let maps: [Int: Tensor]

    /// Held-out sequences the maps average over (SPEC §5.5), whatever a run's `evalBatchSize`.
    public static let heldOutSequences = 2048

    /// The tokens of `sequences` held-out sequences of `config`'s task: the test batch's random
    /// purpose, so the first `evalBatchSize` of them are the loss evaluation's own batch.
    public static func heldOutTokens(_ config: TrainConfig, sequences: Int = heldOutSequences) throws -> Tensor {
        let task = try config.task.makeTask(seed: config.seed)
        let test = task.batch(size: sequences, length: config.length, seed: config.seed, purpose: .testBatch, dtype: .float64)
        return config.tokens.tokens(from: test.inputs)
    }

    /// The maps of the softmax layers (or of `layers`, any kind with attention weights),
    /// averaged over the sequences of `tokens` [B, T, W]. The model runs on `chunk` sequences
    /// at a time, so the [B, H, T, T] weights of a large batch never exist at once.
    public init(model: Transformer, tokens: Tensor, layers: [Int]? = nil, chunk: Int = 256) {
        let chosen = layers ?? model.blocks.indices.filter { model.blocks[$0].attention.kind == .softmax }
        let b = tokens.shape[0], per = tokens.count / max(b, 1), step = max(chunk, 1)
        let all = b > step ? tokens.doubles : []
        var sums: [Int: (shape: [Int], dtype: DType, sum: [Double])] = [:]
        for start in stride(from: 0, to: b, by: step) {
            let n = min(step, b - start)
            let part = b > step
                ? Tensor(shape: [n] + tokens.shape.dropFirst(), Array(all[(start * per)..<((start + n) * per)]), dtype: tokens.dtype)
                : tokens                                                              // (n, T, W)
            let trace = ForwardTrace(capturing: chosen.map { "layers.\($0).weights" })
            Variable.withoutGradients { _ = model(part, trace: trace) }
            for l in chosen {
                guard let w = trace["layers.\(l).weights"] else { continue }          // (n, H, T, T)
                var entry = sums[l] ?? (Array(w.shape.dropFirst()), w.dtype, [Double](repeating: 0, count: w.count / n))
                Self.addBatchSum(w, into: &entry.sum)
                sums[l] = entry
            }
        }
        maps = sums.mapValues { Tensor(shape: $0.shape, $0.sum.map { $0 / Double(b) }, dtype: $0.dtype) }
    }

    /// sum += Σ_b w[b, ...].
    static func addBatchSum(_ w: Tensor, into sum: inout [Double]) {
        let per = sum.count, d = w.doubles
        for i in 0..<(w.count / max(per, 1)) { for j in 0..<per { sum[j] += d[i * per + j] } }
    }

    /// Mean over heads and positions t ≥ `from` of the weight on key t − `lag` (lag 0: the
    /// current token, lag 1: the previous one).
    public func meanWeight(layer: Int, lag: Int, from: Int = 2) -> Double {
        guard let m = maps[layer] else { return .nan }
        let (heads, t) = (m.shape[0], m.shape[1])
        var total = 0.0, count = 0
        for h in 0..<heads {
            for q in max(from, lag)..<t {
                total += m[h, q, q - lag]
                count += 1
            }
        }
        return total / Double(max(count, 1))
    }

    /// Writes each head's map of `layer` as a CSV matrix and all heads as one heat-map figure.
    public func write(layer: Int, title: String, into dir: URL) throws -> URL {
        guard let m = maps[layer] else { throw MesaIOError.missing("attention map of layer \(layer + 1)") }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (heads, t) = (m.shape[0], m.shape[1])
        let d = m.doubles
        var panels: [(String, URL, Int)] = []
        for h in 0..<heads {
            let csv = dir.appendingPathComponent("layer\(layer)_head\(h)_attention.csv")
            try CSV.writeMatrix(Array(d[(h * t * t)..<((h + 1) * t * t)]), rows: t, cols: t, to: csv)
            panels.append(("head \(h + 1)", csv, t))
        }
        let base = dir.appendingPathComponent("layer\(layer)_attention")
        try Figures.attentionMaps(panels, title: title, to: base)
        return base
    }
}
