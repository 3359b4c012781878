import Foundation
import MesaNN
import MesaTensor

/// Attention maps of softmax layers averaged over a held-out batch (SPEC §5.5): [VO] finds
/// that the first softmax layer of a model on unconstructed tokens attends to t and t−1,
/// i.e. builds the [s_t, s_{t−1}] tokens that the constructed experiments hand over.
public struct AttentionMaps {
    /// By layer index: [H, T, T], row t the query position, column t' the key position.
    public let maps: [Int: Tensor]

    /// The maps of the softmax layers (or of `layers`, any kind with attention weights).
    public init(model: Transformer, tokens: Tensor, layers: [Int]? = nil) {
        let chosen = layers ?? model.blocks.indices.filter { model.blocks[$0].attention.kind == .softmax }
        let trace = ForwardTrace(capturing: chosen.map { "layers.\($0).weights" })
        Variable.withoutGradients { _ = model(tokens, trace: trace) }
        var maps: [Int: Tensor] = [:]
        for l in chosen { if let w = trace["layers.\(l).weights"] { maps[l] = Self.batchMean(w) } }
        self.maps = maps
    }

    /// Mean over the first axis: [B, ...] → [...].
    static func batchMean(_ w: Tensor) -> Tensor {
        let b = w.shape[0], per = w.count / max(b, 1)
        var sum = [Double](repeating: 0, count: per)
        let d = w.doubles
        for i in 0..<b { for j in 0..<per { sum[j] += d[i * per + j] } }
        return Tensor(shape: Array(w.shape.dropFirst()), sum.map { $0 / Double(b) }, dtype: w.dtype)
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
