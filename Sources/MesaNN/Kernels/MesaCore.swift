import MesaTensor

// The mesa-layer's core for one (sequence, head), SPEC §2:
//   Φ̂_t = argmin_Φ ½ Σ_{t'≤t} γ^{t−t'} ‖v_{t'} − Φ k_{t'}‖² + γ^t ‖Φ‖²_F / (2λ),
//   out_t = Φ̂_t q_t = Σ_{t'≤t} γ^{t−t'} (k_{t'}ᵀ q̃_t) v_{t'},   q̃_t = R_t q_t,
//   R_t = G_t⁻¹, G_t = γ G_{t−1} + k_t k_tᵀ, G_0 = I/λ   (γ = 1: no forgetting).
// R_t follows by Sherman–Morrison: u = R_{t−1} k_t,
//   R_t = γ⁻¹ [R_{t−1} − u uᵀ / (γ + k_tᵀ u)].
//
// Backward. With g_t = ∂L/∂q̃_t from the linear-attention read-out,
//   ∂L/∂q_t = R_t g_t =: dq_t,
//   ∂L/∂G_t = Γ_t = γ Γ_{t+1} − R_t g_t q_tᵀ R_t = −Σ_{s≥t} γ^{s−t} dq_s q̃_sᵀ   (rank one per step),
//   ∂L/∂k_t += (Γ_t + Γ_tᵀ) k_t = −Σ_{s≥t} γ^{s−t} [(q̃_sᵀ k_t) dq_s + (dq_sᵀ k_t) q̃_s],
//   ∂L/∂λ = tr(∂L/∂G_0) · (−1/λ²) = Σ_s γ^s (dq_sᵀ q̃_s) / λ².
// So the backward re-runs the forward recursion (the same operations, hence the same
// rounding) to get R_t g_t, and the sums over s ≥ t are the causal products already used
// for attention. No R_t is stored and nothing is rebuilt by the unstable reverse downdate
// R_{t−1} = R_t − (R_t k)(R_t k)ᵀ/(kᵀR_t k − 1) that SPEC §2 warns about (errors of 1e2 at
// λ = 100 in Float32); the reference `naiveMesaAttention` holds it to the normal equations.

/// out = Σ_{j<d} x_j R[j, :] for R [d][dp] (dp = d rounded up to 8). Rows are accumulated
/// into up to four vectors at once, two partial sums each, so the FMA latency chains run side
/// by side (a single chain per vector would leave the unit idle three cycles out of four).
@inline(__always)
func rowCombination<S: TensorScalar>(_ x: UnsafePointer<S>, _ r: UnsafePointer<S>, width d: Int,
                                     into out: UnsafeMutablePointer<S>) {
    let dp = roundUp8(d)
    var c = 0
    while c < dp {
        let w = min(4, (dp - c) / 8)
        var a0 = Vec<S>(), a1 = Vec<S>(), a2 = Vec<S>(), a3 = Vec<S>()
        var b0 = Vec<S>(), b1 = Vec<S>(), b2 = Vec<S>(), b3 = Vec<S>()
        var j = 0
        while j + 1 < d {
            let x0 = Vec(repeating: x[j]), x1 = Vec(repeating: x[j + 1])
            let r0 = r + j * dp + c, r1 = r0 + dp
            a0 = a0.addingProduct(x0, loadVec(r0)); b0 = b0.addingProduct(x1, loadVec(r1))
            if w > 1 { a1 = a1.addingProduct(x0, loadVec(r0 + 8)); b1 = b1.addingProduct(x1, loadVec(r1 + 8)) }
            if w > 2 { a2 = a2.addingProduct(x0, loadVec(r0 + 16)); b2 = b2.addingProduct(x1, loadVec(r1 + 16)) }
            if w > 3 { a3 = a3.addingProduct(x0, loadVec(r0 + 24)); b3 = b3.addingProduct(x1, loadVec(r1 + 24)) }
            j += 2
        }
        if j < d {
            let x0 = Vec(repeating: x[j]), r0 = r + j * dp + c
            a0 = a0.addingProduct(x0, loadVec(r0))
            if w > 1 { a1 = a1.addingProduct(x0, loadVec(r0 + 8)) }
            if w > 2 { a2 = a2.addingProduct(x0, loadVec(r0 + 16)) }
            if w > 3 { a3 = a3.addingProduct(x0, loadVec(r0 + 24)) }
        }
        storeVec(a0 + b0, out + c)
        if w > 1 { storeVec(a1 + b1, out + c + 8) }
        if w > 2 { storeVec(a2 + b2, out + c + 16) }
        if w > 3 { storeVec(a3 + b3, out + c + 24) }
        c += 8 * w
    }
}

/// Runs the recursion over t = 1…T for one head: writes q̃_t = R_t q_t into `qTilde` and,
/// when `g` is given, dq_t = R_t g_t into `dq` (rows [T][dp]). `q`, `k`, `g` are rows [T][dp].
@inline(__always)
func mesaRecursion<S: TensorScalar>(q: UnsafePointer<S>, k: UnsafePointer<S>, g: UnsafePointer<S>?,
                                    length t: Int, keySize d: Int, lambda: S, gamma: S,
                                    qTilde: UnsafeMutablePointer<S>, dq: UnsafeMutablePointer<S>,
                                    state r: UnsafeMutablePointer<S>, u: UnsafeMutablePointer<S>) {
    let dp = roundUp8(d), chunks = dp / 8
    // R_0 = λ I (zero padding rows and columns stay zero: k and q are zero-padded).
    for i in 0..<(dp * dp) { r[i] = 0 }
    for i in 0..<d { r[i * dp + i] = lambda }
    let inverseGamma = 1 / gamma
    for step in 0..<t {
        let kt = k + step * dp
        // u = R k = Σ_j k_j R[j, :]   (R is symmetric)
        rowCombination(kt, r, width: d, into: u)
        var ku: S = 0
        for j in 0..<d { ku += kt[j] * u[j] }
        let scale = 1 / (gamma + ku)
        // R ← γ⁻¹ (R − u uᵀ / (γ + kᵀu))
        for i in 0..<d {
            let coefficient = Vec<S>(repeating: -u[i] * scale)
            for c in 0..<chunks {
                var row = loadVec(r + i * dp + c * 8).addingProduct(coefficient, loadVec(u + c * 8))
                if gamma != 1 { row *= inverseGamma }
                storeVec(row, r + i * dp + c * 8)
            }
        }
        // q̃_t = R_t q_t and dq_t = R_t g_t
        rowCombination(q + step * dp, r, width: d, into: qTilde + step * dp)
        if let g { rowCombination(g + step * dp, r, width: d, into: dq + step * dp) }
    }
}

/// Fills the decay mask D[t][t'] = γ^{t−t'} for t' ≤ t (zero elsewhere), row stride tp.
func fillDecay<S: TensorScalar>(_ d: UnsafeMutablePointer<S>, length t: Int, gamma: S) {
    let tp = roundUp8(t)
    for i in 0..<t {
        var w: S = 1
        for j in stride(from: i, through: 0, by: -1) { d[i * tp + j] = w; w *= gamma }
        for j in (i + 1)..<tp { d[i * tp + j] = 0 }
    }
}

@inline(__always)
func applyDecay<S: TensorScalar>(_ a: UnsafeMutablePointer<S>, _ d: UnsafePointer<S>, length t: Int) {
    let tp = roundUp8(t)
    for i in 0..<(t * tp) { a[i] *= d[i] }
}

/// Forward of one head of the mesa-layer: out_t = Σ_{t'≤t} γ^{t−t'} (k_{t'}ᵀ R_t q_t) v_{t'}.
/// With `gamma` ≠ 1, `p.decay` must hold `fillDecay(…, gamma)`.
@inline(__always)
func mesaCoreForward<S: TensorScalar>(_ h: HeadView<S>, lambda: S, gamma: S, out: UnsafeMutablePointer<S>,
                                      outStride: Int, _ p: CorePanels<S>) {
    let t = h.length
    gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows)
    gatherRows(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kRows)
    gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT)
    gatherRows(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vRows)
    mesaRecursion(q: p.qRows, k: p.kRows, g: nil, length: t, keySize: h.keySize, lambda: lambda, gamma: gamma,
                  qTilde: p.qTilde, dq: p.dq, state: p.r, u: p.u)
    causalScores(x: p.qTilde, yT: p.kT, length: t, width: h.keySize, scale: 1, into: p.a)
    if gamma != 1 { applyDecay(p.a, p.decay, length: t) }
    causalMix(p.a, p.vRows, length: t, width: h.valueSize, into: p.result)
    scatterRows(p.result, rows: t, width: h.valueSize, into: out, stride: outStride)
}

/// Backward of `mesaCoreForward`: writes dq, dk, dv into `grad` and returns ∂L/∂λ.
@inline(__always)
func mesaCoreBackward<S: TensorScalar>(_ h: HeadView<S>, lambda: S, gamma: S, dOut: UnsafeMutablePointer<S>,
                                       doutStride: Int, grad: HeadView<S>, _ p: CorePanels<S>) -> S {
    let t = h.length, d = h.keySize, dp = roundUp8(d)
    gatherRows(h.q, stride: h.qkStride, rows: t, width: d, into: p.qRows)
    gatherRows(h.k, stride: h.qkStride, rows: t, width: d, into: p.kRows)
    gatherTransposed(h.k, stride: h.qkStride, rows: t, width: d, into: p.kT)
    gatherRows(dOut, stride: doutStride, rows: t, width: h.valueSize, into: p.gRows)
    gatherTransposed(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vT)
    // Read-out: dA = (dO Vᵀ) ⊙ D and g = ∂L/∂q̃ = dA K.
    causalScores(x: p.gRows, yT: p.vT, length: t, width: h.valueSize, scale: 1, into: p.dA)
    if gamma != 1 { applyDecay(p.dA, p.decay, length: t) }
    causalMix(p.dA, p.kRows, length: t, width: d, into: p.result)
    // The recursion again: q̃_t and dq_t = R_t g_t.
    mesaRecursion(q: p.qRows, k: p.kRows, g: p.result, length: t, keySize: d, lambda: lambda, gamma: gamma,
                  qTilde: p.qTilde, dq: p.dq, state: p.r, u: p.u)
    scatterRows(p.dq, rows: t, width: d, into: grad.q, stride: grad.qkStride)
    // A = (Q̃ Kᵀ) ⊙ D;  dV = Aᵀ dO
    causalScores(x: p.qTilde, yT: p.kT, length: t, width: d, scale: 1, into: p.a)
    if gamma != 1 { applyDecay(p.a, p.decay, length: t) }
    gatherRows(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vRows)
    causalMixTransposed(p.a, p.gRows, length: t, width: h.valueSize, into: p.result)
    scatterRows(p.result, rows: t, width: h.valueSize, into: grad.v, stride: grad.vStride)
    // dK = dAᵀ Q̃ (read-out) − Aᵀ dQ − ((dQ Kᵀ) ⊙ D)ᵀ Q̃ (recursion)
    causalScores(x: p.dq, yT: p.kT, length: t, width: d, scale: 1, into: p.s2)
    if gamma != 1 { applyDecay(p.s2, p.decay, length: t) }
    let tp = roundUp8(t)
    for i in 0..<(t * tp) { p.dA[i] -= p.s2[i] }
    causalMixTransposed(p.dA, p.qTilde, length: t, width: d, into: p.result)
    causalMixTransposed(p.a, p.dq, length: t, width: d, into: p.vRows)
    for i in 0..<(t * dp) { p.result[i] -= p.vRows[i] }
    scatterRows(p.result, rows: t, width: d, into: grad.k, stride: grad.qkStride)
    // ∂L/∂λ = Σ_s γ^s (dq_s · q̃_s) / λ²
    var dLambda: S = 0, weight = gamma
    for step in 0..<t {
        var dot: S = 0
        for j in 0..<d { dot += p.dq[step * dp + j] * p.qTilde[step * dp + j] }
        dLambda += weight * dot
        weight *= gamma
    }
    return dLambda / (lambda * lambda)
}
