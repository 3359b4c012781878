import MesaTensor

// Causal linear attention (SPEC §2), per head:  out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}.
// As matrices per (sequence, head): A = tril(Q Kᵀ) [T, T], O = A V. Backward:
// dA = tril(dO Vᵀ), dV = Aᵀ dO, dQ = dA K, dK = dAᵀ Q. Four small GEMMs per (b, h);
// (b, h) pairs are spread over the cores.

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

/// Zeroes the strictly upper triangle of a T×T row-major matrix (t' > t: the future).
@inline(__always)
func maskFuture<S: TensorScalar>(_ a: UnsafeMutablePointer<S>, _ t: Int) {
    for i in 0..<t { for j in (i + 1)..<t { a[i * t + j] = 0 } }
}

/// Forward pass: returns the output [B, T, H·d_v] and the masked scores A [B, H, T, T]
/// that the backward pass reuses.
public func linearAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, scores: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let tLen = g.length
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        var scores = Tensor(uninitializedShape: [g.batch, heads, tLen, tLen], dtype: S.dtype)
        let out = Tensor(shape: v.shape, of: S.self) { o in
            q.withUnsafeBufferPointer(as: S.self) { qp in
            k.withUnsafeBufferPointer(as: S.self) { kp in
            v.withUnsafeBufferPointer(as: S.self) { vp in
            scores.withUnsafeMutableBufferPointer(as: S.self) { ap in
                Parallel.forChunks(g.jobs) { jobs in
                    for job in jobs {
                        let a = ap.baseAddress! + job * tLen * tLen
                        let qo = g.qkOffset(job), vo = g.vOffset(job)
                        S.gemm(transA: false, transB: true, m: tLen, n: tLen, k: g.keySize,
                               alpha: 1, a: qp.baseAddress! + qo, lda: g.qkStride,
                               b: kp.baseAddress! + qo, ldb: g.qkStride, beta: 0, c: a, ldc: tLen)
                        maskFuture(a, tLen)
                        S.gemm(transA: false, transB: false, m: tLen, n: g.valueSize, k: tLen,
                               alpha: 1, a: a, lda: tLen, b: vp.baseAddress! + vo, ldb: g.vStride,
                               beta: 0, c: o.baseAddress! + vo, ldc: g.vStride)
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
    let tLen = g.length
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
        dk.withUnsafeMutableBufferPointer(as: S.self) { dkp in
        dv.withUnsafeMutableBufferPointer(as: S.self) { dvp in
            Parallel.forChunks(g.jobs) { jobs in
                let dA = UnsafeMutablePointer<S>.allocate(capacity: tLen * tLen)
                defer { dA.deallocate() }
                for job in jobs {
                    let a = ap.baseAddress! + job * tLen * tLen
                    let qo = g.qkOffset(job), vo = g.vOffset(job)
                    // dA = tril(dO Vᵀ)
                    S.gemm(transA: false, transB: true, m: tLen, n: tLen, k: g.valueSize,
                           alpha: 1, a: gp.baseAddress! + vo, lda: g.vStride,
                           b: vp.baseAddress! + vo, ldb: g.vStride, beta: 0, c: dA, ldc: tLen)
                    maskFuture(dA, tLen)
                    // dV = Aᵀ dO
                    S.gemm(transA: true, transB: false, m: tLen, n: g.valueSize, k: tLen,
                           alpha: 1, a: a, lda: tLen, b: gp.baseAddress! + vo, ldb: g.vStride,
                           beta: 0, c: dvp.baseAddress! + vo, ldc: g.vStride)
                    // dQ = dA K
                    S.gemm(transA: false, transB: false, m: tLen, n: g.keySize, k: tLen,
                           alpha: 1, a: dA, lda: tLen, b: kp.baseAddress! + qo, ldb: g.qkStride,
                           beta: 0, c: dqp.baseAddress! + qo, ldc: g.qkStride)
                    // dK = dAᵀ Q
                    S.gemm(transA: true, transB: false, m: tLen, n: g.keySize, k: tLen,
                           alpha: 1, a: dA, lda: tLen, b: qp.baseAddress! + qo, ldb: g.qkStride,
                           beta: 0, c: dkp.baseAddress! + qo, ldc: g.qkStride)
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
