import MesaTensor

// The whole attention sublayer of SPEC §2 as one operation, computed tile by tile:
//   [Q K V] = [X_qk W_Qᵀ, X_qk W_Kᵀ, X W_Vᵀ]     (one or two BLAS products per tile)
//   (Q, K ← per-head L2-normalized, optionally)
//   O_h = core(Q_h, K_h, V_h)                     (per sequence and head: linear, softmax
//                                                   or mesa; AttentionCores.swift, MesaCore.swift)
//   Y = O Pᵀ
// A tile is a few sequences (~512 rows), so its Q, K, V and their gradients stay in cache
// between the products and the cores. The forward keeps [Q K V] and O for the backward
// (cheaper to store than to recompute); the cores recompute their T×T scores. When the
// query/key input is the residual stream itself, the three projections are one product
// (and so are their gradients). The composition of separate operations
// (`SelfAttention.composed`) computes the same function and is the reference this is
// tested against (Tests/MesaNNTests).

/// What a sublayer's attention computes (SPEC §2).
public struct AttentionSpec: Equatable, Sendable {
    public var kind: LayerKind
    public var heads: Int
    /// The mesa-layer's forget factor γ ∈ (0, 1] (1: none).
    public var forget: Double
    /// L2-normalize each head's queries and keys.
    public var normalizeQueryKey: Bool

    public init(kind: LayerKind, heads: Int, forget: Double = 1, normalizeQueryKey: Bool = false) {
        self.kind = kind
        self.heads = heads
        self.forget = forget
        self.normalizeQueryKey = normalizeQueryKey
    }
}

/// Sizes of one call.
struct AttentionLayerShape {
    let batch: Int, length: Int, width: Int, qkWidth: Int, heads: Int, keySize: Int, valueSize: Int
    /// True when queries, keys and values are all projected from the same input.
    let sharedInput: Bool

    init(x: Tensor, qk: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, p: Tensor, heads: Int) {
        precondition(x.shape.count == 3 && qk.shape.count == 3 && x.shape[0] == qk.shape[0] && x.shape[1] == qk.shape[1],
                     "attention layer: inputs \(x.shape) and \(qk.shape) must be [B, T, ·] with equal B, T")
        precondition(heads > 0 && wq.shape == wk.shape && wq.shape.count == 2 && wq.shape[0] % heads == 0,
                     "attention layer: W_Q \(wq.shape), W_K \(wk.shape) must be [H·d_k, D_qk] for \(heads) heads")
        precondition(wq.shape[1] == qk.shape[2], "attention layer: W_Q \(wq.shape) does not fit query/key input \(qk.shape)")
        precondition(wv.shape.count == 2 && wv.shape[1] == x.shape[2] && wv.shape[0] % heads == 0,
                     "attention layer: W_V \(wv.shape) does not fit input \(x.shape)")
        precondition(p.shape == [x.shape[2], wv.shape[0]], "attention layer: P \(p.shape) must be [D, H·d_v]")
        precondition(Set([x.dtype, qk.dtype, wq.dtype, wk.dtype, wv.dtype, p.dtype]).count == 1,
                     "attention layer: mixed dtypes")
        batch = x.shape[0]
        length = x.shape[1]
        width = x.shape[2]
        qkWidth = qk.shape[2]
        self.heads = heads
        keySize = wq.shape[0] / heads
        valueSize = wv.shape[0] / heads
        sharedInput = x.sharesStorage(with: qk) && x.shape == qk.shape
    }

    /// Sequences per tile: about 512 rows.
    var tile: Int { max(1, min(batch, 512 / max(length, 1))) }
    var hk: Int { heads * keySize }
    var hv: Int { heads * valueSize }
    /// Row width of the [Q K V] buffer.
    var qkvWidth: Int { 2 * hk + hv }
}

extension Tensor {
    /// Row-wise concatenation of matrices with equal column counts ([W_Q; W_K; W_V]).
    static func stackRows(_ parts: [Tensor]) -> Tensor {
        transpose(concatColumns(parts.map { transpose($0) }))
    }
}

/// What the forward keeps for the backward.
public struct AttentionLayerSaved {
    /// [Q K V] [B, T, 2H·d_k + H·d_v] (Q, K normalized when asked).
    public let qkv: Tensor
    /// Head outputs O [B, T, H·d_v].
    public let o: Tensor
    /// The norms s of each row's 2H query and key slices [B·T·2H], when normalized.
    public let norms: Tensor?
    /// Softmax and linear layers: the attention weights A [B, H, T, T₈] (T₈ = T rounded up to 8, zero
    /// beyond the diagonal), so that the backward need not recompute them.
    public let weights: Tensor?
}

/// Runs one head's core forward; linear and softmax cores write their weights A into
/// `weights` when given.
@inline(__always)
func coreForward<S: TensorScalar>(_ spec: AttentionSpec, _ view: HeadView<S>, lambda: S, out: UnsafeMutablePointer<S>,
                                  outStride: Int, _ panels: CorePanels<S>, weights: UnsafeMutablePointer<S>? = nil) {
    switch spec.kind {
    case .linear, .softmax:
        scoreCoreForward(softmax: spec.kind == .softmax, view, out: out, outStride: outStride, panels, weights: weights)
    case .mesa:
        mesaCoreForward(view, lambda: lambda, gamma: S(spec.forget), out: out, outStride: outStride, panels)
    }
}

/// Forward: Y [B, T, D] and what the backward needs. `lambda` [H] is the mesa-layer's.
public func attentionLayerForward(_ spec: AttentionSpec, x: Tensor, queryKeyInput qk: Tensor, wq: Tensor, wk: Tensor,
                                  wv: Tensor, p: Tensor, lambda: Tensor?) -> (y: Tensor, saved: AttentionLayerSaved) {
    let s = AttentionLayerShape(x: x, qk: qk, wq: wq, wk: wk, wv: wv, p: p, heads: spec.heads)
    precondition((spec.kind == .mesa) == (lambda != nil), "attention layer: λ is for (and needed by) the mesa-layer")
    if let lambda { precondition(lambda.shape == [spec.heads], "attention layer: λ \(lambda.shape) for \(spec.heads) heads") }
    let (t, g, w3, heads) = (s.length, s.tile, s.qkvWidth, spec.heads)
    let tiles = (s.batch + g - 1) / g
    let wAll = s.sharedInput ? Tensor.stackRows([wq, wk, wv]) : Tensor.stackRows([wq, wk])
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, AttentionLayerSaved) {
        let lambdas = lambda?.scalars(as: S.self) ?? [S](repeating: 1, count: heads)
        var o = Tensor(uninitializedShape: [s.batch, t, s.hv], dtype: S.dtype)
        var qkv = Tensor(uninitializedShape: [s.batch, t, w3], dtype: S.dtype)
        var norms = Tensor(uninitializedShape: [spec.normalizeQueryKey ? s.batch * t * 2 * heads : 0], dtype: S.dtype)
        let keepWeights = spec.kind != .mesa
        let tp = roundUp8(t)
        var weights = Tensor(uninitializedShape: keepWeights ? [s.batch, heads, t, tp] : [0], dtype: S.dtype)
        let y = Tensor(shape: [s.batch, t, s.width], of: S.self) { yp in
            x.withUnsafeBufferPointer(as: S.self) { xp in
            qk.withUnsafeBufferPointer(as: S.self) { qkp in
            wAll.withUnsafeBufferPointer(as: S.self) { wap in
            wv.withUnsafeBufferPointer(as: S.self) { wvp in
            p.withUnsafeBufferPointer(as: S.self) { pp in
            qkv.withUnsafeMutableBufferPointer(as: S.self) { qkvp in
            norms.withUnsafeMutableBufferPointer(as: S.self) { np in
            o.withUnsafeMutableBufferPointer(as: S.self) { op in
            weights.withUnsafeMutableBufferPointer(as: S.self) { ap in
                Parallel.forChunks(tiles) { tileRange in
                    let panels = CorePanels<S>(length: t, keySize: s.keySize, valueSize: s.valueSize)
                    if spec.kind == .mesa && spec.forget != 1 { fillDecay(panels.decay, length: t, gamma: S(spec.forget)) }
                    for tile in tileRange {
                        let b0 = tile * g, b1 = min(s.batch, b0 + g), n = (b1 - b0) * t, r0 = b0 * t
                        let buf = qkvp.baseAddress! + r0 * w3
                        if s.sharedInput {
                            S.gemm(transA: false, transB: true, m: n, n: w3, k: s.width, alpha: 1,
                                   a: xp.baseAddress! + r0 * s.width, lda: s.width, b: wap.baseAddress!, ldb: s.width,
                                   beta: 0, c: buf, ldc: w3)
                        } else {
                            S.gemm(transA: false, transB: true, m: n, n: 2 * s.hk, k: s.qkWidth, alpha: 1,
                                   a: qkp.baseAddress! + r0 * s.qkWidth, lda: s.qkWidth, b: wap.baseAddress!,
                                   ldb: s.qkWidth, beta: 0, c: buf, ldc: w3)
                            S.gemm(transA: false, transB: true, m: n, n: s.hv, k: s.width, alpha: 1,
                                   a: xp.baseAddress! + r0 * s.width, lda: s.width, b: wvp.baseAddress!, ldb: s.width,
                                   beta: 0, c: buf + 2 * s.hk, ldc: w3)
                        }
                        if spec.normalizeQueryKey {
                            for r in 0..<n {
                                normalizeSlices(buf + r * w3, count: 2 * heads, width: s.keySize,
                                                norms: np.baseAddress! + (r0 + r) * 2 * heads)
                            }
                        }
                        for seq in 0..<(b1 - b0) {
                            for h in 0..<heads {
                                let row = buf + seq * t * w3
                                let view = HeadView(length: t, keySize: s.keySize, valueSize: s.valueSize,
                                                    q: row + h * s.keySize, k: row + s.hk + h * s.keySize, qkStride: w3,
                                                    v: row + 2 * s.hk + h * s.valueSize, vStride: w3)
                                coreForward(spec, view, lambda: lambdas[h],
                                            out: op.baseAddress! + (r0 + seq * t) * s.hv + h * s.valueSize,
                                            outStride: s.hv, panels,
                                            weights: keepWeights ? ap.baseAddress! + ((b0 + seq) * heads + h) * t * tp : nil)
                            }
                        }
                        S.gemm(transA: false, transB: true, m: n, n: s.width, k: s.hv, alpha: 1,
                               a: op.baseAddress! + r0 * s.hv, lda: s.hv, b: pp.baseAddress!, ldb: s.hv,
                               beta: 0, c: yp.baseAddress! + r0 * s.width, ldc: s.width)
                    }
                }
            }}}}}}}}}
        }
        return (y, AttentionLayerSaved(qkv: qkv, o: o, norms: spec.normalizeQueryKey ? norms : nil,
                                       weights: keepWeights ? weights : nil))
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Gradients of the attention sublayer (dλ for the mesa-layer).
public struct AttentionLayerGradients {
    public let dx: Tensor, dqk: Tensor, dwq: Tensor, dwk: Tensor, dwv: Tensor, dp: Tensor, dLambda: Tensor?
}

/// Backward of `attentionLayerForward`. Weight gradients are summed over the batch in
/// `Parallel.reductionParts` fixed parts, added in order (independent of thread count).
/// With a shared input, `dx` holds the whole input gradient and `dqk` is zero.
public func attentionLayerBackward(_ spec: AttentionSpec, dy: Tensor, x: Tensor, queryKeyInput qk: Tensor, wq: Tensor,
                                   wk: Tensor, wv: Tensor, p: Tensor, lambda: Tensor?,
                                   saved: AttentionLayerSaved) -> AttentionLayerGradients {
    let s = AttentionLayerShape(x: x, qk: qk, wq: wq, wk: wk, wv: wv, p: p, heads: spec.heads)
    let (t, g, w3, heads) = (s.length, s.tile, s.qkvWidth, spec.heads)
    precondition(dy.shape == x.shape && saved.o.shape == [s.batch, t, s.hv] && saved.qkv.shape == [s.batch, t, w3],
                 "attention layer backward: shapes")
    let parts = Parallel.split(s.batch, parts: Parallel.reductionParts)
    // Per part: d[W_Q; W_K; W_V] (or d[W_Q; W_K] and dW_V), dP and dλ.
    let qkvWeightSize = s.sharedInput ? w3 * s.width : 2 * s.hk * s.qkWidth + s.hv * s.width
    let partSize = qkvWeightSize + s.width * s.hv + heads
    let wAll = s.sharedInput ? Tensor.stackRows([wq, wk, wv]) : Tensor.stackRows([wq, wk])
    func run<S: TensorScalar>(_: S.Type) -> AttentionLayerGradients {
        let lambdas = lambda?.scalars(as: S.self) ?? [S](repeating: 1, count: heads)
        var dx = Tensor(uninitializedShape: x.shape, dtype: S.dtype)
        var dqk = s.sharedInput ? Tensor(zeros: qk.shape, dtype: S.dtype) : Tensor(uninitializedShape: qk.shape, dtype: S.dtype)
        let acc = UnsafeMutablePointer<S>.allocate(capacity: parts.count * partSize)
        acc.initialize(repeating: 0, count: parts.count * partSize)
        defer { acc.deallocate() }
        let norms = saved.norms ?? Tensor(zeros: [0], dtype: S.dtype)
        let savedWeights = saved.weights ?? Tensor(zeros: [0], dtype: S.dtype)
        let tp = roundUp8(t)
        if let w = saved.weights { precondition(w.shape == [s.batch, heads, t, tp], "attention layer backward: weights \(w.shape)") }
        dy.withUnsafeBufferPointer(as: S.self) { dyp in
        x.withUnsafeBufferPointer(as: S.self) { xp in
        qk.withUnsafeBufferPointer(as: S.self) { qkp in
        wAll.withUnsafeBufferPointer(as: S.self) { wap in
        wv.withUnsafeBufferPointer(as: S.self) { wvp in
        p.withUnsafeBufferPointer(as: S.self) { pp in
        saved.qkv.withUnsafeBufferPointer(as: S.self) { qkvp in
        saved.o.withUnsafeBufferPointer(as: S.self) { op in
        norms.withUnsafeBufferPointer(as: S.self) { np in
        savedWeights.withUnsafeBufferPointer(as: S.self) { swp in
        dx.withUnsafeMutableBufferPointer(as: S.self) { dxp in
        dqk.withUnsafeMutableBufferPointer(as: S.self) { dqkp in
            Parallel.forEach(parts.count) { part in
                let dW = acc + part * partSize, dP = dW + qkvWeightSize, dLambda = dP + s.width * s.hv
                let rowsMax = g * t
                let buffers = UnsafeMutablePointer<S>.allocate(capacity: rowsMax * (w3 + s.hv))
                defer { buffers.deallocate() }
                let dQKV = buffers, dO = dQKV + rowsMax * w3
                let panels = CorePanels<S>(length: t, keySize: s.keySize, valueSize: s.valueSize)
                if spec.kind == .mesa && spec.forget != 1 { fillDecay(panels.decay, length: t, gamma: S(spec.forget)) }
                var b0 = parts[part].lowerBound
                while b0 < parts[part].upperBound {
                    let b1 = min(parts[part].upperBound, b0 + g), n = (b1 - b0) * t, r0 = b0 * t
                    let qkRows = qkp.baseAddress! + r0 * s.qkWidth, xRows = xp.baseAddress! + r0 * s.width
                    let dyRows = dyp.baseAddress! + r0 * s.width, oRows = op.baseAddress! + r0 * s.hv
                    let qkvRows = UnsafeMutablePointer(mutating: qkvp.baseAddress! + r0 * w3)
                    // dO = dY P;  dP += dYᵀ O
                    S.gemm(transA: false, transB: false, m: n, n: s.hv, k: s.width, alpha: 1, a: dyRows, lda: s.width,
                           b: pp.baseAddress!, ldb: s.hv, beta: 0, c: dO, ldc: s.hv)
                    S.gemm(transA: true, transB: false, m: s.width, n: s.hv, k: n, alpha: 1, a: dyRows, lda: s.width,
                           b: oRows, ldb: s.hv, beta: 1, c: dP, ldc: s.hv)
                    for seq in 0..<(b1 - b0) {
                        for h in 0..<heads {
                            let row = qkvRows + seq * t * w3, grow = dQKV + seq * t * w3
                            let qo = h * s.keySize, vo = 2 * s.hk + h * s.valueSize
                            let view = HeadView(length: t, keySize: s.keySize, valueSize: s.valueSize,
                                                q: row + qo, k: row + s.hk + qo, qkStride: w3, v: row + vo, vStride: w3)
                            let grad = HeadView(length: t, keySize: s.keySize, valueSize: s.valueSize,
                                                q: grow + qo, k: grow + s.hk + qo, qkStride: w3, v: grow + vo, vStride: w3)
                            let dOut = dO + seq * t * s.hv + h * s.valueSize
                            switch spec.kind {
                            case .linear, .softmax:
                                scoreCoreBackward(softmax: spec.kind == .softmax, view, dOut: dOut, doutStride: s.hv,
                                                  grad: grad, panels,
                                                  weights: saved.weights == nil ? nil
                                                      : swp.baseAddress! + ((b0 + seq) * heads + h) * t * tp)
                            case .mesa:
                                dLambda[h] += mesaCoreBackward(view, lambda: lambdas[h], gamma: S(spec.forget), dOut: dOut,
                                                               doutStride: s.hv, grad: grad, panels)
                            }
                        }
                    }
                    if spec.normalizeQueryKey {
                        for r in 0..<n {
                            normalizeSlicesBackward(dQKV + r * w3, normalized: qkvRows + r * w3, count: 2 * heads,
                                                    width: s.keySize, norms: np.baseAddress! + (r0 + r) * 2 * heads)
                        }
                    }
                    if s.sharedInput {
                        // dX = d[Q K V] [W_Q; W_K; W_V];  d[W_Q; W_K; W_V] += d[Q K V]ᵀ X
                        S.gemm(transA: false, transB: false, m: n, n: s.width, k: w3, alpha: 1, a: dQKV, lda: w3,
                               b: wap.baseAddress!, ldb: s.width, beta: 0, c: dxp.baseAddress! + r0 * s.width, ldc: s.width)
                        S.gemm(transA: true, transB: false, m: w3, n: s.width, k: n, alpha: 1, a: dQKV, lda: w3,
                               b: xRows, ldb: s.width, beta: 1, c: dW, ldc: s.width)
                    } else {
                        // dX_qk = d[Q K] [W_Q; W_K];  dX = dV W_V;  and the weight gradients.
                        S.gemm(transA: false, transB: false, m: n, n: s.qkWidth, k: 2 * s.hk, alpha: 1, a: dQKV, lda: w3,
                               b: wap.baseAddress!, ldb: s.qkWidth, beta: 0, c: dqkp.baseAddress! + r0 * s.qkWidth,
                               ldc: s.qkWidth)
                        S.gemm(transA: false, transB: false, m: n, n: s.width, k: s.hv, alpha: 1, a: dQKV + 2 * s.hk,
                               lda: w3, b: wvp.baseAddress!, ldb: s.width, beta: 0, c: dxp.baseAddress! + r0 * s.width,
                               ldc: s.width)
                        S.gemm(transA: true, transB: false, m: 2 * s.hk, n: s.qkWidth, k: n, alpha: 1, a: dQKV, lda: w3,
                               b: qkRows, ldb: s.qkWidth, beta: 1, c: dW, ldc: s.qkWidth)
                        S.gemm(transA: true, transB: false, m: s.hv, n: s.width, k: n, alpha: 1, a: dQKV + 2 * s.hk,
                               lda: w3, b: xRows, ldb: s.width, beta: 1, c: dW + 2 * s.hk * s.qkWidth, ldc: s.width)
                    }
                    b0 = b1
                }
            }
        }}}}}}}}}}}}
        // Sum the parts in order.
        for part in 1..<parts.count {
            for i in 0..<partSize { acc[i] += acc[part * partSize + i] }
        }
        func slice(_ offset: Int, _ shape: [Int]) -> Tensor {
            Tensor(shape: shape, of: S.self) { d in for i in 0..<d.count { d[i] = acc[offset + i] } }
        }
        let qkSize = s.hk * s.qkWidth  // rows of d[W_Q; W_K; (W_V)] are contiguous blocks
        return AttentionLayerGradients(dx: dx, dqk: dqk, dwq: slice(0, wq.shape), dwk: slice(qkSize, wk.shape),
                                       dwv: slice(2 * qkSize, wv.shape), dp: slice(qkvWeightSize, p.shape),
                                       dLambda: lambda == nil ? nil : slice(qkvWeightSize + s.width * s.hv, [heads]))
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// The attention sublayer as one differentiable operation: Y [B, T, D] from the residual
/// stream x [B, T, D] and the query/key input [B, T, D_qk] (which may be x itself).
public func attentionLayer(_ spec: AttentionSpec, _ x: Variable, queryKeyInput qk: Variable, wq: Variable, wk: Variable,
                           wv: Variable, p: Variable, lambda: Variable? = nil) -> Variable {
    let (y, saved) = attentionLayerForward(spec, x: x.value, queryKeyInput: qk.value, wq: wq.value, wk: wk.value,
                                           wv: wv.value, p: p.value, lambda: lambda?.value)
    let inputs = [x, qk, wq, wk, wv, p] + (lambda.map { [$0] } ?? [])
    return Variable(y, inputs: inputs) { dy in
        let g = attentionLayerBackward(spec, dy: dy, x: x.value, queryKeyInput: qk.value, wq: wq.value, wk: wk.value,
                                       wv: wv.value, p: p.value, lambda: lambda?.value, saved: saved)
        return [g.dx, g.dqk, g.dwq, g.dwk, g.dwv, g.dp] + (lambda == nil ? [] : [g.dLambda])
    }
}
