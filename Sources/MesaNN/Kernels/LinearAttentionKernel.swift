import MesaTensor

// Causal linear attention (SPEC §2), per head:  out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}.
// As matrices per (sequence, head): A = tril(Q Kᵀ) [T, T], O = A V. Backward:
// dA = tril(dO Vᵀ), dV = Aᵀ dO, dQ = dA K, dK = dAᵀ Q — the three causal products of
// CausalProducts.swift; (sequence, head) pairs are spread over the cores.

/// The reference: the formula as written, in Double, one output element at a time.
public func naiveLinearAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let qd = q.doubles, kd = k.doubles, vd = v.doubles
    var out = [Double](repeating: 0, count: g.batch * g.length * g.vStride)
    for b in 0..<g.batch {
        for h in 0..<heads {
            for t in 0..<g.length {
                for tp in 0...t {
                    var score = 0.0  // k_{t'}ᵀ q_t
                    for i in 0..<g.keySize {
                        score += kd[(b * g.length + tp) * g.qkStride + h * g.keySize + i]
                            * qd[(b * g.length + t) * g.qkStride + h * g.keySize + i]
                    }
                    for j in 0..<g.valueSize {
                        out[(b * g.length + t) * g.vStride + h * g.valueSize + j] +=
                            score * vd[(b * g.length + tp) * g.vStride + h * g.valueSize + j]
                    }
                }
            }
        }
    }
    return Tensor(shape: v.shape, out, dtype: v.dtype)
}

/// Forward pass: returns the output [B, T, H·d_v] and the masked scores A [B, H, T, T₈]
/// (T₈ = T rounded up to 8; zero beyond the diagonal) that the backward pass reuses.
public func linearAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, scores: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let (tLen, tp) = (g.length, roundUp8(g.length))
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        var scores = Tensor(uninitializedShape: [g.batch, heads, tLen, tp], dtype: S.dtype)
        let out = Tensor(shape: v.shape, of: S.self) { o in
            q.withUnsafeBufferPointer(as: S.self) { qp in
            k.withUnsafeBufferPointer(as: S.self) { kp in
            v.withUnsafeBufferPointer(as: S.self) { vp in
            scores.withUnsafeMutableBufferPointer(as: S.self) { ap in
                Parallel.forChunks(g.jobs) { jobs in
                    let scratch = PanelScratch<S>(capacity: g.panelCapacity)
                    let qRows = scratch.panel(tLen * roundUp8(g.keySize))
                    let kT = scratch.panel(g.keySize * tp)
                    let vRows = scratch.panel(tLen * roundUp8(g.valueSize))
                    let oRows = scratch.panel(tLen * roundUp8(g.valueSize))
                    for job in jobs {
                        let a = ap.baseAddress! + job * tLen * tp
                        let qo = g.qkOffset(job), vo = g.vOffset(job)
                        gatherRows(qp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: qRows)
                        gatherTransposed(kp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: kT)
                        gatherRows(vp.baseAddress! + vo, stride: g.vStride, rows: tLen, width: g.valueSize, into: vRows)
                        causalScores(x: qRows, yT: kT, length: tLen, width: g.keySize, scale: 1, into: a)
                        causalMix(a, vRows, length: tLen, width: g.valueSize, into: oRows)
                        scatterRows(oRows, rows: tLen, width: g.valueSize, into: o.baseAddress! + vo, stride: g.vStride)
                    }
                }
            }}}}
        }
        return (out, scores)
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Backward pass: (dq, dk, dv) from dout and the forward's inputs and scores.
public func linearAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, scores: Tensor,
                                    heads: Int) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    precondition(dOut.shape == v.shape, "linearAttentionBackward: dOut \(dOut.shape) vs v \(v.shape)")
    let (tLen, tp) = (g.length, roundUp8(g.length))
    let (dkp, dvp) = (roundUp8(g.keySize), roundUp8(g.valueSize))
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor) {
        var dq = Tensor(uninitializedShape: q.shape, dtype: S.dtype)
        var dk = Tensor(uninitializedShape: k.shape, dtype: S.dtype)
        var dv = Tensor(uninitializedShape: v.shape, dtype: S.dtype)
        q.withUnsafeBufferPointer(as: S.self) { qp in
        k.withUnsafeBufferPointer(as: S.self) { kp in
        v.withUnsafeBufferPointer(as: S.self) { vp in
        dOut.withUnsafeBufferPointer(as: S.self) { gp in
        scores.withUnsafeBufferPointer(as: S.self) { ap in
        dq.withUnsafeMutableBufferPointer(as: S.self) { dqp in
        dk.withUnsafeMutableBufferPointer(as: S.self) { dkp_ in
        dv.withUnsafeMutableBufferPointer(as: S.self) { dvp_ in
            Parallel.forChunks(g.jobs) { jobs in
                let scratch = PanelScratch<S>(capacity: g.panelCapacity)
                let gRows = scratch.panel(tLen * dvp), vT = scratch.panel(g.valueSize * tp)
                let dA = scratch.panel(tLen * tp)
                let xRows = scratch.panel(tLen * max(dkp, dvp)), result = scratch.panel(tLen * max(dkp, dvp))
                for job in jobs {
                    let a = ap.baseAddress! + job * tLen * tp
                    let qo = g.qkOffset(job), vo = g.vOffset(job)
                    gatherRows(gp.baseAddress! + vo, stride: g.vStride, rows: tLen, width: g.valueSize, into: gRows)
                    gatherTransposed(vp.baseAddress! + vo, stride: g.vStride, rows: tLen, width: g.valueSize, into: vT)
                    // dA = tril(dO Vᵀ)
                    causalScores(x: gRows, yT: vT, length: tLen, width: g.valueSize, scale: 1, into: dA)
                    // dV = Aᵀ dO
                    causalMixTransposed(a, gRows, length: tLen, width: g.valueSize, into: result)
                    scatterRows(result, rows: tLen, width: g.valueSize, into: dvp_.baseAddress! + vo, stride: g.vStride)
                    // dQ = dA K
                    gatherRows(kp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: xRows)
                    causalMix(dA, xRows, length: tLen, width: g.keySize, into: result)
                    scatterRows(result, rows: tLen, width: g.keySize, into: dqp.baseAddress! + qo, stride: g.qkStride)
                    // dK = dAᵀ Q
                    gatherRows(qp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: xRows)
                    causalMixTransposed(dA, xRows, length: tLen, width: g.keySize, into: result)
                    scatterRows(result, rows: tLen, width: g.keySize, into: dkp_.baseAddress! + qo, stride: g.qkStride)
                }
            }
        }}}}}}}}
        return (dq, dk, dv)
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Differentiable causal linear attention over `heads` heads (SPEC §2).
public func linearAttention(_ q: Variable, _ k: Variable, _ v: Variable, heads: Int) -> Variable {
    let (out, scores) = linearAttentionForward(q: q.value, k: k.value, v: v.value, heads: heads)
    return Variable(out, inputs: [q, k, v]) { g in
        let d = linearAttentionBackward(dOut: g, q: q.value, k: k.value, v: v.value, scores: scores, heads: heads)
        return [d.dq, d.dk, d.dv]
    }
}
