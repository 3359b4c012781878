import MesaTensor
import RealModule

// The mesa-layer's attention over whole-batch tensors (SPEC §2): the reference the fused
// sublayer is tested against, and the plain Double version that solves the normal
// equations at every position, which both are held to.

/// The mesa-layer as the math reads, in Double: for every sequence, head and position t,
/// Φ̂_t = (Σ_{t'≤t} γ^{t−t'} v_{t'} k_{t'}ᵀ)(Σ_{t'≤t} γ^{t−t'} k_{t'} k_{t'}ᵀ + γ^t I/λ_h)⁻¹,
/// solved directly, and out_t = Φ̂_t q_t.
public func naiveMesaAttention(q: Tensor, k: Tensor, v: Tensor, lambda: [Double], heads: Int,
                               forget gamma: Double = 1) -> Tensor {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    precondition(lambda.count == heads, "one λ per head")
    let qd = q.doubles, kd = k.doubles, vd = v.doubles
    let (dk, dv) = (g.keySize, g.valueSize)
    var out = [Double](repeating: 0, count: g.batch * g.length * g.vStride)
    for b in 0..<g.batch {
        for h in 0..<heads {
            func key(_ t: Int, _ i: Int) -> Double { kd[(b * g.length + t) * g.qkStride + h * dk + i] }
            func value(_ t: Int, _ i: Int) -> Double { vd[(b * g.length + t) * g.vStride + h * dv + i] }
            for t in 0..<g.length {
                var gram = Linalg.identity(dk, scale: Double.pow(gamma, Double(t + 1)) / lambda[h])
                var cross = [Double](repeating: 0, count: dv * dk)
                for tp in 0...t {
                    let w = Double.pow(gamma, Double(t - tp))
                    for i in 0..<dk { for j in 0..<dk { gram[i * dk + j] += w * key(tp, i) * key(tp, j) } }
                    for i in 0..<dv { for j in 0..<dk { cross[i * dk + j] += w * value(tp, i) * key(tp, j) } }
                }
                // Φ̂ = cross · gram⁻¹, so Φ̂ᵀ = gram⁻¹ crossᵀ (gram is symmetric).
                let phiT = Linalg.solve(gram, Linalg.transpose(cross, dv, dk), dk, dv)!
                for i in 0..<dv {
                    var s = 0.0
                    for j in 0..<dk { s += phiT[j * dv + i] * qd[(b * g.length + t) * g.qkStride + h * dk + j] }
                    out[(b * g.length + t) * g.vStride + h * dv + i] = s
                }
            }
        }
    }
    return Tensor(shape: v.shape, out, dtype: v.dtype)
}

/// Forward over whole-batch tensors: q, k [B, T, H·d_k], v [B, T, H·d_v], λ [H].
public func mesaAttentionForward(q: Tensor, k: Tensor, v: Tensor, lambda: Tensor, heads: Int,
                                 forget gamma: Double = 1) -> Tensor {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    precondition(lambda.shape == [heads], "mesa attention: λ must be [\(heads)], got \(lambda.shape)")
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        let lambdas = lambda.scalars(as: S.self)
        return Tensor(shape: v.shape, of: S.self) { o in
            q.withUnsafeBufferPointer(as: S.self) { qp in
            k.withUnsafeBufferPointer(as: S.self) { kp in
            v.withUnsafeBufferPointer(as: S.self) { vp in
                Parallel.forChunks(g.jobs) { jobs in
                    let panels = CorePanels<S>(length: g.length, keySize: g.keySize, valueSize: g.valueSize)
                    if gamma != 1 { fillDecay(panels.decay, length: g.length, gamma: S(gamma)) }
                    for job in jobs {
                        let qo = g.qkOffset(job), vo = g.vOffset(job)
                        let view = HeadView(length: g.length, keySize: g.keySize, valueSize: g.valueSize,
                                            q: UnsafeMutablePointer(mutating: qp.baseAddress! + qo),
                                            k: UnsafeMutablePointer(mutating: kp.baseAddress! + qo), qkStride: g.qkStride,
                                            v: UnsafeMutablePointer(mutating: vp.baseAddress! + vo), vStride: g.vStride)
                        mesaCoreForward(view, lambda: lambdas[job % heads], gamma: S(gamma),
                                        out: o.baseAddress! + vo, outStride: g.vStride, panels)
                    }
                }
            }}}
        }
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Backward over whole-batch tensors: (dq, dk, dv, dλ). dλ sums over the batch in
/// `Parallel.reductionParts` fixed parts.
public func mesaAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, lambda: Tensor, heads: Int,
                                  forget gamma: Double = 1) -> (dq: Tensor, dk: Tensor, dv: Tensor, dLambda: Tensor) {
    let g = AttentionGeometry(q: q, k: k, v: v, heads: heads)
    let parts = Parallel.split(g.batch, parts: Parallel.reductionParts)
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor, Tensor) {
        let lambdas = lambda.scalars(as: S.self)
        var dq = Tensor(uninitializedShape: q.shape, dtype: S.dtype)
        var dk = Tensor(uninitializedShape: k.shape, dtype: S.dtype)
        var dv = Tensor(uninitializedShape: v.shape, dtype: S.dtype)
        var partial = [S](repeating: 0, count: parts.count * heads)
        q.withUnsafeBufferPointer(as: S.self) { qp in
        k.withUnsafeBufferPointer(as: S.self) { kp in
        v.withUnsafeBufferPointer(as: S.self) { vp in
        dOut.withUnsafeBufferPointer(as: S.self) { gp in
        dq.withUnsafeMutableBufferPointer(as: S.self) { dqp in
        dk.withUnsafeMutableBufferPointer(as: S.self) { dkp in
        dv.withUnsafeMutableBufferPointer(as: S.self) { dvp in
        partial.withUnsafeMutableBufferPointer { pp in
            Parallel.forEach(parts.count) { part in
                let panels = CorePanels<S>(length: g.length, keySize: g.keySize, valueSize: g.valueSize)
                if gamma != 1 { fillDecay(panels.decay, length: g.length, gamma: S(gamma)) }
                for job in (parts[part].lowerBound * heads)..<(parts[part].upperBound * heads) {
                    let qo = g.qkOffset(job), vo = g.vOffset(job)
                    func view(_ q: UnsafeMutablePointer<S>, _ k: UnsafeMutablePointer<S>, _ v: UnsafeMutablePointer<S>) -> HeadView<S> {
                        HeadView(length: g.length, keySize: g.keySize, valueSize: g.valueSize, q: q + qo, k: k + qo,
                                 qkStride: g.qkStride, v: v + vo, vStride: g.vStride)
                    }
                    pp[part * heads + job % heads] += mesaCoreBackward(
                        view(UnsafeMutablePointer(mutating: qp.baseAddress!), UnsafeMutablePointer(mutating: kp.baseAddress!),
                             UnsafeMutablePointer(mutating: vp.baseAddress!)),
                        lambda: lambdas[job % heads], gamma: S(gamma),
                        dOut: UnsafeMutablePointer(mutating: gp.baseAddress! + vo), doutStride: g.vStride,
                        grad: view(dqp.baseAddress!, dkp.baseAddress!, dvp.baseAddress!), panels)
                }
            }
        }}}}}}}}
        var dLambda = [S](repeating: 0, count: heads)
        for part in 0..<parts.count { for h in 0..<heads { dLambda[h] += partial[part * heads + h] } }
        return (dq, dk, dv, Tensor(shape: [heads], dLambda))
    }
    return q.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Differentiable mesa attention over `heads` heads with per-head λ [H] (SPEC §2).
public func mesaAttention(_ q: Variable, _ k: Variable, _ v: Variable, lambda: Variable, heads: Int,
                          forget gamma: Double = 1) -> Variable {
    let out = mesaAttentionForward(q: q.value, k: k.value, v: v.value, lambda: lambda.value, heads: heads, forget: gamma)
    return Variable(out, inputs: [q, k, v, lambda]) { g in
        let d = mesaAttentionBackward(dOut: g, q: q.value, k: k.value, v: v.value, lambda: lambda.value,
                                      heads: heads, forget: gamma)
        return [d.dq, d.dk, d.dv, d.dLambda]
    }
}
