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

/// Row-wise causal softmax of a T×T score matrix in place (future entries become 0).
@inline(__always)
func causalSoftmaxRows<S: TensorScalar>(_ a: UnsafeMutablePointer<S>, _ t: Int) {
    for i in 0..<t {
        let row = a + i * t
        var m = row[0]
        for j in 0...i { m = max(m, row[j]) }
        var z: S = 0
        for j in 0...i { let e = S.exp(row[j] - m); row[j] = e; z += e }
        let inv = 1 / z
        for j in 0...i { row[j] *= inv }
        for j in (i + 1)..<t { row[j] = 0 }
    }
}

/// Forward pass: output [B, T, H·d_v] and attention weights A [B, H, T, T].
public func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, weights: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let tLen = g.length
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        let scale = 1 / S(g.keySize).squareRoot()
        var weights = Tensor(uninitializedShape: [g.batch, heads, tLen, tLen], dtype: S.dtype)
        let out = Tensor(shape: v.shape, of: S.self) { o in
            q.withUnsafeBufferPointer(as: S.self) { qp in
            k.withUnsafeBufferPointer(as: S.self) { kp in
            v.withUnsafeBufferPointer(as: S.self) { vp in
            weights.withUnsafeMutableBufferPointer(as: S.self) { ap in
                Parallel.forChunks(g.jobs) { jobs in
                    for job in jobs {
                        let a = ap.baseAddress! + job * tLen * tLen
                        let qo = g.qkOffset(job), vo = g.vOffset(job)
                        S.gemm(transA: false, transB: true, m: tLen, n: tLen, k: g.keySize,
                               alpha: scale, a: qp.baseAddress! + qo, lda: g.qkStride,
                               b: kp.baseAddress! + qo, ldb: g.qkStride, beta: 0, c: a, ldc: tLen)
                        causalSoftmaxRows(a, tLen)
                        S.gemm(transA: false, transB: false, m: tLen, n: g.valueSize, k: tLen,
                               alpha: 1, a: a, lda: tLen, b: vp.baseAddress! + vo, ldb: g.vStride,
                               beta: 0, c: o.baseAddress! + vo, ldc: g.vStride)
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
    let tLen = g.length
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
        dk.withUnsafeMutableBufferPointer(as: S.self) { dkp in
        dv.withUnsafeMutableBufferPointer(as: S.self) { dvp in
            Parallel.forChunks(g.jobs) { jobs in
                let dS = UnsafeMutablePointer<S>.allocate(capacity: tLen * tLen)
                defer { dS.deallocate() }
                for job in jobs {
                    let a = ap.baseAddress! + job * tLen * tLen
                    let qo = g.qkOffset(job), vo = g.vOffset(job)
                    // dA = dO Vᵀ, then dS = A ⊙ (dA − rowsum(A ⊙ dA)) (zero where A is).
                    S.gemm(transA: false, transB: true, m: tLen, n: tLen, k: g.valueSize,
                           alpha: 1, a: gp.baseAddress! + vo, lda: g.vStride,
                           b: vp.baseAddress! + vo, ldb: g.vStride, beta: 0, c: dS, ldc: tLen)
                    for i in 0..<tLen {
                        var r: S = 0
                        for j in 0...i { r += a[i * tLen + j] * dS[i * tLen + j] }
                        for j in 0...i { dS[i * tLen + j] = a[i * tLen + j] * (dS[i * tLen + j] - r) }
                        for j in (i + 1)..<tLen { dS[i * tLen + j] = 0 }
                    }
                    S.gemm(transA: true, transB: false, m: tLen, n: g.valueSize, k: tLen,
                           alpha: 1, a: a, lda: tLen, b: gp.baseAddress! + vo, ldb: g.vStride,
                           beta: 0, c: dvp.baseAddress! + vo, ldc: g.vStride)
                    S.gemm(transA: false, transB: false, m: tLen, n: g.keySize, k: tLen,
                           alpha: scale, a: dS, lda: tLen, b: kp.baseAddress! + qo, ldb: g.qkStride,
                           beta: 0, c: dqp.baseAddress! + qo, ldc: g.qkStride)
                    S.gemm(transA: true, transB: false, m: tLen, n: g.keySize, k: tLen,
                           alpha: scale, a: dS, lda: tLen, b: qp.baseAddress! + qo, ldb: g.qkStride,
                           beta: 0, c: dkp.baseAddress! + qo, ldc: g.qkStride)
                }
            }
        }}}}}}}}
        return (dq, dk, dv)
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Differentiable causal softmax attention over `heads` heads (SPEC §2).
public func softmaxAttention(_ q: Variable, _ k: Variable, _ v: Variable, heads: Int) -> Variable {
    let (out, weights) = softmaxAttentionForward(q: q.value, k: k.value, v: v.value, heads: heads)
    return Variable(out, inputs: [q, k, v]) { g in
        let d = softmaxAttentionBackward(dOut: g, q: q.value, k: k.value, v: v.value, weights: weights, heads: heads)
        return [d.dq, d.dk, d.dv]
    }
}
