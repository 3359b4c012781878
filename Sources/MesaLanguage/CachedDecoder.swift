import Foundation
import MesaNN
import MesaTensor

/// Next-byte logits one position at a time with per-layer state (SPEC §9), so that each new
/// token costs one position rather than a forward over the whole context:
/// - softmax: the keys and values so far (KV cache), out_t = Σ_{t'≤t} softmax(k_{t'}ᵀq_t/√d_k) v_{t'};
/// - linear: S_t = S_{t−1} + v_t k_tᵀ (d_v × d_k), out_t = S_t q_t;
/// - mesa: S_t = γ S_{t−1} + v_t k_tᵀ and R_t = G_t⁻¹ (d_k × d_k, R_0 = λI) updated by
///   Sherman–Morrison, u = R_{t−1}k_t, R_t = γ⁻¹[R_{t−1} − u uᵀ/(γ + k_tᵀu)], out_t = S_t R_t q_t.
/// Everything in Double, read from the model's weights: the plain counterpart of the
/// model's forward, held equal to it by a test at every position.
public final class CachedDecoder {
    struct Head {
        var keys: [[Double]] = [], values: [[Double]] = []
        var s: [Double] = [], r: [Double] = []
    }

    struct Layer {
        let kind: LayerKind
        let normGain: [Double]?, normBias: [Double]?
        let wq: [Double], wk: [Double], wv: [Double], p: [Double]
        let lambda: [Double]?
        let normalize: Bool
        let mlpNormGain: [Double]?, mlpNormBias: [Double]?
        let up: [Double]?, upBias: [Double]?, down: [Double]?, downBias: [Double]?
    }

    public let config: ModelConfig
    let layers: [Layer]
    let embedding: [Double], readout: [Double]
    let finalGain: [Double]?, finalBias: [Double]?
    var heads: [[Head]]
    /// Positions consumed so far.
    public private(set) var position = 0

    /// Kinds the decoder keeps state for; other kinds (`delta`) are refused by `init`.
    public static let supportedKinds: Set<LayerKind> = [.softmax, .linear, .mesa]

    public init(_ model: LanguageModel) throws {
        let c = model.config
        config = c
        for kind in c.layers where !Self.supportedKinds.contains(kind) {
            throw ModelError.invalidConfig("cached decoding supports softmax, linear and mesa layers, not \(kind)")
        }
        embedding = model.tokenEmbedding.value.doubles
        readout = model.readout.value.doubles
        finalGain = model.finalGain?.value.doubles
        finalBias = model.finalBias?.value.doubles
        layers = model.body.blocks.map { b in
            let a = b.attention
            return Layer(kind: a.kind, normGain: b.attentionNorm?.gain.value.doubles, normBias: b.attentionNorm?.bias?.value.doubles,
                         wq: a.query.value.doubles, wk: a.key.value.doubles, wv: a.value.value.doubles,
                         p: a.projection.value.doubles, lambda: a.lambda?.value.doubles,
                         normalize: a.spec.normalizeQueryKey,
                         mlpNormGain: b.mlpNorm?.gain.value.doubles, mlpNormBias: b.mlpNorm?.bias?.value.doubles,
                         up: b.mlp?.up.weight.value.doubles, upBias: b.mlp?.up.bias?.value.doubles,
                         down: b.mlp?.down.weight.value.doubles, downBias: b.mlp?.down.bias?.value.doubles)
        }
        heads = []
        reset()
    }

    /// Forgets every position.
    public func reset() {
        position = 0
        let (dk, dv) = (config.keySize, config.valueSize)
        heads = layers.map { layer in
            (0..<config.heads).map { h in
                var head = Head()
                if layer.kind != .softmax { head.s = [Double](repeating: 0, count: dv * dk) }
                if layer.kind == .mesa {
                    head.r = [Double](repeating: 0, count: dk * dk)
                    for i in 0..<dk { head.r[i * dk + i] = layer.lambda![h] }
                }
                return head
            }
        }
    }

    /// y = W x for W [rows, cols] row-major.
    /// Four independent sums per row, so that the multiply-adds overlap.
    static func apply(_ w: [Double], _ x: [Double], rows: Int) -> [Double] {
        let cols = x.count, whole = cols / 4 * 4
        return [Double](unsafeUninitializedCapacity: rows) { out, count in
            w.withUnsafeBufferPointer { wp in
                x.withUnsafeBufferPointer { xp in
                    for r in 0..<rows {
                        let row = wp.baseAddress! + r * cols
                        var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
                        var c = 0
                        while c < whole {
                            s0 += row[c] * xp[c]; s1 += row[c + 1] * xp[c + 1]
                            s2 += row[c + 2] * xp[c + 2]; s3 += row[c + 3] * xp[c + 3]
                            c += 4
                        }
                        while c < cols { s0 += row[c] * xp[c]; c += 1 }
                        out[r] = (s0 + s1) + (s2 + s3)
                    }
                }
            }
            count = rows
        }
    }

    func layerNorm(_ x: [Double], gain: [Double], bias: [Double]?) -> [Double] {
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let inv = 1 / (variance + config.layerNormEpsilon).squareRoot()
        return x.indices.map { (x[$0] - mean) * inv * gain[$0] + (bias?[$0] ?? 0) }
    }

    /// The sinusoidal encoding of one position (Transformer.sinusoidalEncoding's row t).
    func positionalEncoding(_ t: Int) -> [Double] {
        let w = config.positionalEncoding
        var pe = [Double](repeating: 0, count: w)
        for i in 0..<(w / 2) {
            let angle = Double(t) / Foundation.pow(10000, Double(2 * i) / Double(w))
            pe[2 * i] = Foundation.sin(angle)
            pe[2 * i + 1] = Foundation.cos(angle)
        }
        return pe
    }

    /// Consumes `token` at the next position and returns the logits [V] of the byte after it.
    public func step(_ token: UInt8) -> [Double] {
        let c = config, d = c.width, (dk, dv, hN) = (c.keySize, c.valueSize, c.heads)
        var x = Array(embedding[(Int(token) * d)..<(Int(token) * d + d)])
        for (i, layer) in layers.enumerated() {
            let h = layer.normGain.map { layerNorm(x, gain: $0, bias: layer.normBias) } ?? x
            let qkInput = i == 0 && c.positionalEncoding > 0 ? h + positionalEncoding(position) : h
            var q = Self.apply(layer.wq, qkInput, rows: hN * dk), k = Self.apply(layer.wk, qkInput, rows: hN * dk)
            let v = Self.apply(layer.wv, h, rows: hN * dv)
            if layer.normalize {
                for head in 0..<hN {
                    for vec in [0, 1] {
                        var sq = 0.0
                        for j in 0..<dk { let e = vec == 0 ? q[head * dk + j] : k[head * dk + j]; sq += e * e }
                        let s = (sq + headNormalizationEpsilon).squareRoot()
                        for j in 0..<dk { if vec == 0 { q[head * dk + j] /= s } else { k[head * dk + j] /= s } }
                    }
                }
            }
            var o = [Double](repeating: 0, count: hN * dv)
            for head in 0..<hN {
                let qh = Array(q[(head * dk)..<((head + 1) * dk)]), kh = Array(k[(head * dk)..<((head + 1) * dk)])
                let vh = Array(v[(head * dv)..<((head + 1) * dv)])
                let out = attend(layer: i, head: head, kind: layer.kind, q: qh, k: kh, v: vh)
                for j in 0..<dv { o[head * dv + j] = out[j] }
            }
            let attended = Self.apply(layer.p, o, rows: d)
            for j in 0..<d { x[j] += attended[j] }
            if let up = layer.up, let down = layer.down {
                let h2 = layer.mlpNormGain.map { layerNorm(x, gain: $0, bias: layer.mlpNormBias) } ?? x
                var u = Self.apply(up, h2, rows: c.mlpHidden)
                if let b = layer.upBias { for j in u.indices { u[j] += b[j] } }
                u = u.map { geluValue($0) }
                var y = Self.apply(down, u, rows: d)
                if let b = layer.downBias { for j in y.indices { y[j] += b[j] } }
                for j in 0..<d { x[j] += y[j] }
            }
            if let clipValue = c.activationClip { x = x.map { min(max($0, -clipValue), clipValue) } }
        }
        let hFinal = finalGain.map { layerNorm(x, gain: $0, bias: finalBias) } ?? x
        position += 1
        return Self.apply(readout, hFinal, rows: c.dimension)
    }

    /// One head's output at the current position, updating its state.
    func attend(layer l: Int, head h: Int, kind: LayerKind, q: [Double], k: [Double], v: [Double]) -> [Double] {
        let (dk, dv) = (q.count, v.count)
        switch kind {
        case .softmax:
            heads[l][h].keys.append(k)
            heads[l][h].values.append(v)
            let scale = 1 / Double(dk).squareRoot()
            let logits = heads[l][h].keys.map { key in zip(key, q).reduce(0) { $0 + $1.0 * $1.1 } * scale }
            let m = logits.max()!
            let w = logits.map { Foundation.exp($0 - m) }
            let z = w.reduce(0, +)
            var out = [Double](repeating: 0, count: dv)
            for (t, value) in heads[l][h].values.enumerated() { for j in 0..<dv { out[j] += w[t] / z * value[j] } }
            return out
        case .linear:
            for i in 0..<dv { for j in 0..<dk { heads[l][h].s[i * dk + j] += v[i] * k[j] } }
            return Self.apply(heads[l][h].s, q, rows: dv)
        default:  // mesa
            let gamma = config.mesaForget
            var r = heads[l][h].r
            let u = Self.apply(r, k, rows: dk)
            let scale = 1 / (gamma + zip(k, u).reduce(0) { $0 + $1.0 * $1.1 })
            for i in 0..<dk { for j in 0..<dk { r[i * dk + j] = (r[i * dk + j] - u[i] * u[j] * scale) / gamma } }
            heads[l][h].r = r
            for i in 0..<dv { for j in 0..<dk { heads[l][h].s[i * dk + j] = gamma * heads[l][h].s[i * dk + j] + v[i] * k[j] } }
            let qTilde = Self.apply(r, q, rows: dk)
            return Self.apply(heads[l][h].s, qTilde, rows: dv)
        }
    }
}
