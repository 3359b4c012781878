import MesaTensor
import RealModule

// Causal softmax attention (SPEC §2), per head:
//   A_{t,t'} = softmax_{t' ≤ t}(k_{t'}ᵀ q_t / √d_k),   out_t = Σ_{t'≤t} A_{t,t'} v_{t'}.
// Backward: dA = dO Vᵀ, dS = A ⊙ (dA − rowsum(A ⊙ dA)), dQ = dS K/√d_k, dK = dSᵀ Q/√d_k,
// dV = Aᵀ dO.

/// The reference: the formula as written, in Double.
public func naiveSoftmaxAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let qd = q.doubles, kd = k.doubles, vd = v.doubles
    let scale = 1 / Double(g.keySize).squareRoot()
    var out = [Double](repeating: 0, count: g.batch * g.length * g.vStride)
    for b in 0..<g.batch {
        for h in 0..<heads {
            for t in 0..<g.length {
                var logits = [Double](repeating: 0, count: t + 1)
                for tp in 0...t {
                    for i in 0..<g.keySize {
                        logits[tp] += kd[(b * g.length + tp) * g.qkStride + h * g.keySize + i]
                            * qd[(b * g.length + t) * g.qkStride + h * g.keySize + i] * scale
                    }
                }
                let m = logits.max()!
                let w = logits.map { Double.exp($0 - m) }
                let z = w.reduce(0, +)
                for tp in 0...t {
                    for j in 0..<g.valueSize {
                        out[(b * g.length + t) * g.vStride + h * g.valueSize + j] +=
                            w[tp] / z * vd[(b * g.length + tp) * g.vStride + h * g.valueSize + j]
                    }
                }
            }
        }
    }
    return Tensor(shape: v.shape, out, dtype: v.dtype)
}

/// Row-wise causal softmax of a T×T score matrix (row stride tp) in place;
/// entries t' > t (and the padding) become 0. Row t works on whole SIMD vectors up to
/// t + 1 rounded up to 8 (Swift's scalar `max` does not vectorize: it orders NaNs).
@inline(__always)
func causalSoftmaxRows<S: TensorScalar>(_ a: UnsafeMutablePointer<S>, _ t: Int) {
    let tp = roundUp8(t)
    for i in 0..<t {
        let row = a + i * tp
        let n = i + 1, full = n / 8 * 8, covered = roundUp8(n)
        // Eight running maxima (written out so that they become one vector compare-select).
        var (m0, m1, m2, m3) = (-S.infinity, -S.infinity, -S.infinity, -S.infinity)
        var (m4, m5, m6, m7) = (-S.infinity, -S.infinity, -S.infinity, -S.infinity)
        for c in Swift.stride(from: 0, to: full, by: 8) {
            let r = row + c
            m0 = r[0] > m0 ? r[0] : m0; m1 = r[1] > m1 ? r[1] : m1
            m2 = r[2] > m2 ? r[2] : m2; m3 = r[3] > m3 ? r[3] : m3
            m4 = r[4] > m4 ? r[4] : m4; m5 = r[5] > m5 ? r[5] : m5
            m6 = r[6] > m6 ? r[6] : m6; m7 = r[7] > m7 ? r[7] : m7
        }
        var m = -S.infinity
        for x in [m0, m1, m2, m3, m4, m5, m6, m7] where x > m { m = x }
        for j in full..<n where row[j] > m { m = row[j] }
        for j in 0..<covered { row[j] = tensorExp(row[j] - m) }
        for j in n..<tp { row[j] = 0 }
        var zv = Vec<S>()
        for c in Swift.stride(from: 0, to: covered, by: 8) { zv += loadVecUnaligned(row + c) }
        let inv = 1 / zv.sum()
        for c in Swift.stride(from: 0, to: covered, by: 8) { storeVec(loadVecUnaligned(row + c) * inv, row + c) }
    }
}

/// Backward of the causal softmax, in place: dA ← A ⊙ (dA − rowsum(A ⊙ dA)) for each row
/// (A zero beyond the diagonal, so those entries stay 0 for finite dA).
@inline(__always)
func causalSoftmaxBackwardRows<S: TensorScalar>(_ a: UnsafePointer<S>, _ dA: UnsafeMutablePointer<S>, _ t: Int) {
    let tp = roundUp8(t)
    for i in 0..<t {
        let ar = a + i * tp, dr = dA + i * tp, covered = roundUp8(i + 1)
        var rv = Vec<S>()
        for c in Swift.stride(from: 0, to: covered, by: 8) { rv += loadVecUnaligned(ar + c) * loadVecUnaligned(dr + c) }
        let r = Vec<S>(repeating: rv.sum())
        for c in Swift.stride(from: 0, to: covered, by: 8) { storeVec(loadVecUnaligned(ar + c) * (loadVecUnaligned(dr + c) - r), dr + c) }
    }
}

/// Forward pass: output [B, T, H·d_v] and attention weights A [B, H, T, T₈] (T₈ = T
/// rounded up to 8; zero beyond the diagonal; see `unpaddedAttentionWeights`).
public func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, weights: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let (tLen, tp) = (g.length, roundUp8(g.length))
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        let scale = 1 / S(g.keySize).squareRoot()
        var weights = Tensor(uninitializedShape: [g.batch, heads, tLen, tp], dtype: S.dtype)
        let out = Tensor(shape: v.shape, of: S.self) { o in
            q.withUnsafeBufferPointer(as: S.self) { qp in
            k.withUnsafeBufferPointer(as: S.self) { kp in
            v.withUnsafeBufferPointer(as: S.self) { vp in
            weights.withUnsafeMutableBufferPointer(as: S.self) { ap in
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
                        causalScores(x: qRows, yT: kT, length: tLen, width: g.keySize, scale: scale, into: a)
                        causalSoftmaxRows(a, tLen)
                        causalMix(a, vRows, length: tLen, width: g.valueSize, into: oRows)
                        scatterRows(oRows, rows: tLen, width: g.valueSize, into: o.baseAddress! + vo, stride: g.vStride)
                    }
                }
            }}}}
        }
        return (out, weights)
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Backward pass from dout, the inputs and the forward's attention weights.
public func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, weights: Tensor,
                                     heads: Int) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    precondition(dOut.shape == v.shape, "softmaxAttentionBackward: dOut \(dOut.shape) vs v \(v.shape)")
    let (tLen, tp) = (g.length, roundUp8(g.length))
    let (dkp, dvp) = (roundUp8(g.keySize), roundUp8(g.valueSize))
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor) {
        let scale = 1 / S(g.keySize).squareRoot()
        var dq = Tensor(uninitializedShape: q.shape, dtype: S.dtype)
        var dk = Tensor(uninitializedShape: k.shape, dtype: S.dtype)
        var dv = Tensor(uninitializedShape: v.shape, dtype: S.dtype)
        q.withUnsafeBufferPointer(as: S.self) { qp in
        k.withUnsafeBufferPointer(as: S.self) { kp in
        v.withUnsafeBufferPointer(as: S.self) { vp in
        dOut.withUnsafeBufferPointer(as: S.self) { gp in
        weights.withUnsafeBufferPointer(as: S.self) { ap in
        dq.withUnsafeMutableBufferPointer(as: S.self) { dqp in
        dk.withUnsafeMutableBufferPointer(as: S.self) { dkp_ in
        dv.withUnsafeMutableBufferPointer(as: S.self) { dvp_ in
            Parallel.forChunks(g.jobs) { jobs in
                let scratch = PanelScratch<S>(capacity: g.panelCapacity)
                let gRows = scratch.panel(tLen * dvp), vT = scratch.panel(g.valueSize * tp)
                let dS = scratch.panel(tLen * tp)
                let xRows = scratch.panel(tLen * max(dkp, dvp)), result = scratch.panel(tLen * max(dkp, dvp))
                for job in jobs {
                    let a = ap.baseAddress! + job * tLen * tp
                    let qo = g.qkOffset(job), vo = g.vOffset(job)
                    gatherRows(gp.baseAddress! + vo, stride: g.vStride, rows: tLen, width: g.valueSize, into: gRows)
                    gatherTransposed(vp.baseAddress! + vo, stride: g.vStride, rows: tLen, width: g.valueSize, into: vT)
                    // dA = dO Vᵀ (past only), then dS = A ⊙ (dA − rowsum(A ⊙ dA)).
                    causalScores(x: gRows, yT: vT, length: tLen, width: g.valueSize, scale: 1, into: dS)
                    causalSoftmaxBackwardRows(a, dS, tLen)
                    // dV = Aᵀ dO
                    causalMixTransposed(a, gRows, length: tLen, width: g.valueSize, into: result)
                    scatterRows(result, rows: tLen, width: g.valueSize, into: dvp_.baseAddress! + vo, stride: g.vStride)
                    // dQ = dS K / √d_k
                    gatherRows(kp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: xRows)
                    causalMix(dS, xRows, length: tLen, width: g.keySize, into: result)
                    scatterRows(result, rows: tLen, width: g.keySize, scale: scale, into: dqp.baseAddress! + qo, stride: g.qkStride)
                    // dK = dSᵀ Q / √d_k
                    gatherRows(qp.baseAddress! + qo, stride: g.qkStride, rows: tLen, width: g.keySize, into: xRows)
                    causalMixTransposed(dS, xRows, length: tLen, width: g.keySize, into: result)
                    scatterRows(result, rows: tLen, width: g.keySize, scale: scale, into: dkp_.baseAddress! + qo, stride: g.qkStride)
                }
            }
        }}}}}}}}
        return (dq, dk, dv)
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Attention weights [B, H, T, T] from the padded [B, H, T, T₈] the kernels keep.
public func unpaddedAttentionWeights(_ w: Tensor) -> Tensor {
    precondition(w.shape.count == 4, "attention weights must be [B, H, T, T₈], got \(w.shape)")
    let t = w.shape[2]
    return columns(w, 0..<t)
}

/// Differentiable causal softmax attention over `heads` heads (SPEC §2).
public func softmaxAttention(_ q: Variable, _ k: Variable, _ v: Variable, heads: Int) -> Variable {
    let (out, weights) = softmaxAttentionForward(q: q.value, k: k.value, v: v.value, heads: heads)
    return Variable(out, inputs: [q, k, v]) { g in
        let d = softmaxAttentionBackward(dOut: g, q: q.value, k: k.value, v: v.value, weights: weights, heads: heads)
        return [d.dq, d.dk, d.dv]
    }
}
