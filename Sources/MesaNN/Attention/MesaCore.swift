import CSupport
import MesaTensor
import RealModule

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

/// (R x, R y, R z) for R [d][dp] in one pass over R: up to three row combinations (z
/// optional) whose accumulators are independent FMA chains, three vectors of columns at a time.
@inline(__always)
func rowCombinations<S: TensorScalar>(_ x: UnsafePointer<S>, _ y: UnsafePointer<S>, _ z: UnsafePointer<S>?,
                                      _ r: UnsafePointer<S>, width d: Int, into rx: UnsafeMutablePointer<S>,
                                      _ ry: UnsafeMutablePointer<S>, _ rz: UnsafeMutablePointer<S>) {
    let dp = roundUp8(d)
    var c = 0
    while c < dp {
        let w = min(3, (dp - c) / 8)
        var x0 = Vec<S>(), x1 = Vec<S>(), x2 = Vec<S>()
        var y0 = Vec<S>(), y1 = Vec<S>(), y2 = Vec<S>()
        var z0 = Vec<S>(), z1 = Vec<S>(), z2 = Vec<S>()
        for j in 0..<d {
            let row = r + j * dp + c
            let r0 = loadVec(row), r1 = w > 1 ? loadVec(row + 8) : Vec<S>(), r2 = w > 2 ? loadVec(row + 16) : Vec<S>()
            let xs = Vec(repeating: x[j]), ys = Vec(repeating: y[j])
            x0 = x0.addingProduct(xs, r0); x1 = x1.addingProduct(xs, r1); x2 = x2.addingProduct(xs, r2)
            y0 = y0.addingProduct(ys, r0); y1 = y1.addingProduct(ys, r1); y2 = y2.addingProduct(ys, r2)
            if let z {
                let zs = Vec(repeating: z[j])
                z0 = z0.addingProduct(zs, r0); z1 = z1.addingProduct(zs, r1); z2 = z2.addingProduct(zs, r2)
            }
        }
        storeVec(x0, rx + c); storeVec(y0, ry + c)
        if w > 1 { storeVec(x1, rx + c + 8); storeVec(y1, ry + c + 8) }
        if w > 2 { storeVec(x2, rx + c + 16); storeVec(y2, ry + c + 16) }
        if z != nil {
            storeVec(z0, rz + c)
            if w > 1 { storeVec(z1, rz + c + 8) }
            if w > 2 { storeVec(z2, rz + c + 16) }
        }
        c += 8 * w
    }
}

/// Runs the recursion over t = 1…T for one head: writes q̃_t = R_t q_t into `qTilde` and,
/// when `g` is given, dq_t = R_t g_t into `dq` (rows [T][dp]). `q`, `k`, `g` are rows [T][dp].
/// One pass over R_{t−1} gives u = R_{t−1} k_t, R_{t−1} q_t and R_{t−1} g_t; then
/// R_t x = γ⁻¹ [R_{t−1} x − u (uᵀx) / (γ + kᵀu)] for x = q_t, g_t, and R is updated in place.
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
        let kt = k + step * dp, qt = q + step * dp, rq = qTilde + step * dp, rg = dq + step * dp
        let gt = g.map { $0 + step * dp }
        rowCombinations(kt, qt, gt, r, width: d, into: u, rq, rg)
        var ku: S = 0, uq: S = 0, ug: S = 0
        for j in 0..<d { ku += kt[j] * u[j]; uq += qt[j] * u[j] }
        if let gt { for j in 0..<d { ug += gt[j] * u[j] } }
        let scale = 1 / (gamma + ku)
        // q̃_t = γ⁻¹ (R_{t−1} q_t − u (uᵀq_t) scale), and the same for g_t
        let cq = Vec<S>(repeating: -uq * scale), cg = Vec<S>(repeating: -ug * scale)
        for c in 0..<chunks {
            let uc = loadVec(u + c * 8)
            var vq = loadVec(rq + c * 8).addingProduct(cq, uc)
            if gamma != 1 { vq *= inverseGamma }
            storeVec(vq, rq + c * 8)
            if g != nil {
                var vg = loadVec(rg + c * 8).addingProduct(cg, uc)
                if gamma != 1 { vg *= inverseGamma }
                storeVec(vg, rg + c * 8)
            }
        }
        // R ← γ⁻¹ (R − u uᵀ / (γ + kᵀu))   (the γ test outside the loops, which it would block)
        if gamma == 1 {
            for i in 0..<d {
                let coefficient = Vec<S>(repeating: -u[i] * scale), row = r + i * dp
                for c in 0..<chunks { storeVec(loadVec(row + c * 8).addingProduct(coefficient, loadVec(u + c * 8)), row + c * 8) }
            }
        } else {
            let g = Vec<S>(repeating: inverseGamma)
            for i in 0..<d {
                let coefficient = Vec<S>(repeating: -u[i] * scale), row = r + i * dp
                for c in 0..<chunks {
                    storeVec(loadVec(row + c * 8).addingProduct(coefficient, loadVec(u + c * 8)) * g, row + c * 8)
                }
            }
        }
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

/// The mesa-layer (SPEC §2; see the derivation above): per head a learned λ_h > 0
/// (initialized to 1) and the model's forget factor γ.
public struct MesaCore: AttentionCore {
    public static let name = "mesa"
    public static let summary = "mesa-layer: out_t = Φ̂_t q_t with Φ̂_t the ridge-regression solution over t' ≤ t (λ per head)"
    public static var headParameters: [HeadParameter] {
        [HeadParameter(name: "lambda", initialValue: 1, requirement: "positive and finite (R_0 = λI inverts the regularizer)",
                       valid: { $0 > 0 && $0.isFinite })]
    }
    /// Σ_{t'≤t} γ^{t−t'} (k_{t'}ᵀ q̃_t) v_{t'} is a mix with weights (Q̃ Kᵀ) ⊙ D.
    public static var hasAttentionWeights: Bool { true }
    public static var tracedVectors: [String] { ["q_tilde"] }

    /// γ ∈ (0, 1].
    public let forget: Double
    /// The form of the read-out's mix (ChunkedMix.swift).
    public let form: AttentionForm

    public init(_ spec: AttentionSpec) {
        forget = spec.forget
        form = spec.form
    }

    /// Whether a head of these sizes mixes in the chunked (recurrent) form: the read-out
    /// out_t = S_t q̃_t with S_t = Σ_{t'≤t} γ^{t−t'} v_{t'} k_{t'}ᵀ carried chunk to chunk, and
    /// its backward as one causal and four anti-causal chunked mixes (see `backward`). The
    /// step is then O(T·d_k²) (recursion) + O(T·C·d) (chunks) instead of O(T²·d).
    @inline(__always)
    public func chunked(length: Int, keySize: Int, valueSize: Int) -> Bool {
        ChunkedMix.usesChunked(form, length: length, keySize: keySize, valueSize: valueSize,
                               crossoverFactor: ChunkedMix.mesaCrossoverFactor)
    }

    /// The panels of one head, carved in a fixed order (the decay mask first: `prepare` fills
    /// it). The T×T panels only in the quadratic form; the chunk panels only in the chunked one.
    struct Panels<S: TensorScalar> {
        let decay: UnsafeMutablePointer<S>, a: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>, s2: UnsafeMutablePointer<S>
        let qRows: UnsafeMutablePointer<S>, kRows: UnsafeMutablePointer<S>, vRows: UnsafeMutablePointer<S>
        let gRows: UnsafeMutablePointer<S>, result: UnsafeMutablePointer<S>, qTilde: UnsafeMutablePointer<S>
        let dq: UnsafeMutablePointer<S>, kT: UnsafeMutablePointer<S>, vT: UnsafeMutablePointer<S>
        let r: UnsafeMutablePointer<S>, u: UnsafeMutablePointer<S>, chunk: UnsafeMutablePointer<S>

        static func count(length t: Int, keySize dk: Int, valueSize dv: Int, chunked: Bool) -> Int {
            let tp = roundUp8(t), dp = roundUp8(max(dk, dv)), tt = chunked ? 0 : t * tp
            return 4 * tt + 7 * t * dp + (chunked ? 0 : 2 * dp * tp) + dp * dp + dp
                + (chunked ? ChunkPanels<S>.count(width: max(dk, dv)) : 0) + 16 * 8
        }

        @inline(__always)
        init(_ scratch: UnsafeMutablePointer<S>, length t: Int, keySize dk: Int, valueSize dv: Int, chunked: Bool) {
            let tp = roundUp8(t), dp = roundUp8(max(dk, dv)), tt = chunked ? 0 : t * tp
            var c = PanelCarver(scratch)
            decay = c.panel(tt); a = c.panel(tt); dA = c.panel(tt); s2 = c.panel(tt)
            qRows = c.panel(t * dp); kRows = c.panel(t * dp); vRows = c.panel(t * dp); gRows = c.panel(t * dp)
            result = c.panel(t * dp); qTilde = c.panel(t * dp); dq = c.panel(t * dp)
            kT = c.panel(chunked ? 0 : dp * tp); vT = c.panel(chunked ? 0 : dp * tp)
            r = c.panel(dp * dp); u = c.panel(dp)
            chunk = c.panel(chunked ? ChunkPanels<S>.count(width: max(dk, dv)) : 0)
        }
    }

    public func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        Panels<Double>.count(length: length, keySize: keySize, valueSize: valueSize,
                             chunked: chunked(length: length, keySize: keySize, valueSize: valueSize))
    }

    public func prepare<S: TensorScalar>(scratch: UnsafeMutablePointer<S>, length: Int, keySize: Int, valueSize: Int) {
        if forget != 1 && !chunked(length: length, keySize: keySize, valueSize: valueSize) {
            fillDecay(scratch, length: length, gamma: S(forget))
        }
    }

    /// out_t = Σ_{t'≤t} γ^{t−t'} (k_{t'}ᵀ R_t q_t) v_{t'}.
    @inline(__always)
    public func forward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                         outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>) {
        let t = h.length, gamma = S(forget), dp = roundUp8(h.keySize)   // the row stride of q̃ and k panels
        let isChunked = chunked(length: t, keySize: h.keySize, valueSize: h.valueSize)
        let p = Panels(scratch, length: t, keySize: h.keySize, valueSize: h.valueSize, chunked: isChunked)
        gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows)
        gatherRows(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kRows)
        mesaRecursion(q: p.qRows, k: p.kRows, g: nil, length: t, keySize: h.keySize, lambda: parameters[0], gamma: gamma,
                      qTilde: p.qTilde, dq: p.dq, state: p.r, u: p.u)
        if isChunked {
            chunkedCausalMix(x: p.qTilde, xStride: dp, y: p.kRows, yStride: dp, width: h.keySize, z: h.v, zStride: h.vStride,
                             zWidth: h.valueSize, length: t, gamma: gamma, reverse: false, out: out, outStride: outStride,
                             scratch: p.chunk)
            if let w = record.weights {
                recordScores(p.qTilde, xStride: dp, p.kRows, yStride: dp, length: t, width: h.keySize, gamma: gamma, into: w)
            }
        } else {
            let a = record.weights ?? p.a
            gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT)
            causalScores(x: p.qTilde, yT: p.kT, length: t, width: h.keySize, scale: 1, into: a)
            if gamma != 1 { applyDecay(a, p.decay, length: t) }
            causalMixRows(a, h.v, vStride: h.vStride, length: t, width: h.valueSize, into: out, outStride: outStride,
                          vRows: p.vRows, result: p.result)
        }
        if let vectors = record.vectors {
            scatterRows(p.qTilde, rows: t, width: h.keySize, into: vectors, stride: record.vectorRowStride)
        }
    }

    /// Writes dq, dk, dv into `grad` and adds ∂L/∂λ to `dParameters[0]`.
    @inline(__always)
    public func backward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                          doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                          scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?) {
        let t = h.length, d = h.keySize, dv = h.valueSize, dp = roundUp8(d), lambda = parameters[0]
        let gamma = S(forget), isChunked = chunked(length: t, keySize: d, valueSize: dv)
        let p = Panels(scratch, length: t, keySize: d, valueSize: dv, chunked: isChunked)
        gatherRows(h.q, stride: h.qkStride, rows: t, width: d, into: p.qRows)
        gatherRows(h.k, stride: h.qkStride, rows: t, width: d, into: p.kRows)
        if isChunked {
            // Read-out: g_t = ∂L/∂q̃_t = Σ_{t'≤t} γ^{t−t'} (dO_tᵀ v_{t'}) k_{t'}.
            chunkedCausalMix(x: dOut, xStride: doutStride, y: h.v, yStride: h.vStride, width: dv, z: p.kRows, zStride: dp,
                             zWidth: d, length: t, gamma: gamma, reverse: false, out: p.result, outStride: dp,
                             scratch: p.chunk)
            mesaRecursion(q: p.qRows, k: p.kRows, g: p.result, length: t, keySize: d, lambda: lambda, gamma: gamma,
                          qTilde: p.qTilde, dq: p.dq, state: p.r, u: p.u)
            scatterRows(p.dq, rows: t, width: d, into: grad.q, stride: grad.qkStride)
            // dv_{t'} = Σ_{t≥t'} γ^{t−t'} (k_{t'}ᵀ q̃_t) dO_t
            chunkedCausalMix(x: p.kRows, xStride: dp, y: p.qTilde, yStride: dp, width: d, z: dOut, zStride: doutStride,
                             zWidth: dv, length: t, gamma: gamma, reverse: true, out: grad.v, outStride: grad.vStride,
                             scratch: p.chunk)
            // dk_{t'} = Σ_{t≥t'} γ^{t−t'} [(v_{t'}ᵀ dO_t) q̃_t − (k_{t'}ᵀ dq_t) q̃_t − (k_{t'}ᵀ q̃_t) dq_t]
            chunkedCausalMix(x: h.v, xStride: h.vStride, y: dOut, yStride: doutStride, width: dv, z: p.qTilde, zStride: dp,
                             zWidth: d, length: t, gamma: gamma, reverse: true, out: grad.k, outStride: grad.qkStride,
                             scratch: p.chunk)
            chunkedCausalMix(x: p.kRows, xStride: dp, y: p.dq, yStride: dp, width: d, z: p.qTilde, zStride: dp, zWidth: d,
                             length: t, gamma: gamma, reverse: true, out: grad.k, outStride: grad.qkStride, scale: -1,
                             accumulate: true, scratch: p.chunk)
            chunkedCausalMix(x: p.kRows, xStride: dp, y: p.qTilde, yStride: dp, width: d, z: p.dq, zStride: dp, zWidth: d,
                             length: t, gamma: gamma, reverse: true, out: grad.k, outStride: grad.qkStride, scale: -1,
                             accumulate: true, scratch: p.chunk)
        } else {
            quadraticBackward(h, dOut: dOut, doutStride: doutStride, grad: grad, lambda: lambda, p)
        }
        // ∂L/∂λ = Σ_s γ^s (dq_s · q̃_s) / λ²
        var dLambda: S = 0, weight = gamma
        for step in 0..<t {
            var dot: S = 0
            for j in 0..<d { dot += p.dq[step * dp + j] * p.qTilde[step * dp + j] }
            dLambda += weight * dot
            weight *= gamma
        }
        dParameters[0] += dLambda / (lambda * lambda)
    }

    /// The quadratic form's backward (q and k rows already gathered into the panels).
    @inline(__always)
    func quadraticBackward<S: TensorScalar>(_ h: HeadView<S>, dOut: UnsafePointer<S>, doutStride: Int, grad: HeadView<S>,
                                            lambda: S, _ p: Panels<S>) {
        let t = h.length, d = h.keySize, dp = roundUp8(d), gamma = S(forget)
        // On the AVX-512 path (Float) the dO rows are read in place (scorecore512.c's strided
        // kernels, the same FMAs as gatherRows → kernel: WideKernelTests), else through gRows.
        let inPlace = S.self == Float.self && ScoreKernels.wide
        gatherTransposed(h.k, stride: h.qkStride, rows: t, width: d, into: p.kT)
        if !inPlace { gatherRows(dOut, stride: doutStride, rows: t, width: h.valueSize, into: p.gRows) }
        gatherTransposed(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vT)
        // Read-out: dA = (dO Vᵀ) ⊙ D and g = ∂L/∂q̃ = dA K.
        if inPlace {
            mesa512_causal_scores_strided(asFloat(dOut), doutStride, asFloat(p.vT), t, h.valueSize, 1, asFloat(p.dA))
        } else {
            causalScores(x: p.gRows, yT: p.vT, length: t, width: h.valueSize, scale: 1, into: p.dA)
        }
        if gamma != 1 { applyDecay(p.dA, p.decay, length: t) }
        causalMix(p.dA, p.kRows, length: t, width: d, into: p.result)
        // The recursion again: q̃_t and dq_t = R_t g_t.
        mesaRecursion(q: p.qRows, k: p.kRows, g: p.result, length: t, keySize: d, lambda: lambda, gamma: gamma,
                      qTilde: p.qTilde, dq: p.dq, state: p.r, u: p.u)
        scatterRows(p.dq, rows: t, width: d, into: grad.q, stride: grad.qkStride)
        // A = (Q̃ Kᵀ) ⊙ D;  dV = Aᵀ dO
        causalScores(x: p.qTilde, yT: p.kT, length: t, width: d, scale: 1, into: p.a)
        if gamma != 1 { applyDecay(p.a, p.decay, length: t) }
        if inPlace {
            mesa512_causal_mix_transposed_strided(asFloat(p.a), asFloat(dOut), doutStride, t, h.valueSize, 1,
                                                  asFloat(grad.v), grad.vStride)
        } else {
            causalMixTransposed(p.a, p.gRows, length: t, width: h.valueSize, into: p.result)
            scatterRows(p.result, rows: t, width: h.valueSize, into: grad.v, stride: grad.vStride)
        }
        // dK = dAᵀ Q̃ (read-out) − Aᵀ dQ − ((dQ Kᵀ) ⊙ D)ᵀ Q̃ (recursion)
        causalScores(x: p.dq, yT: p.kT, length: t, width: d, scale: 1, into: p.s2)
        if gamma != 1 { applyDecay(p.s2, p.decay, length: t) }
        let tp = roundUp8(t)
        for i in 0..<(t * tp) { p.dA[i] -= p.s2[i] }
        causalMixTransposed(p.dA, p.qTilde, length: t, width: d, into: p.result)
        causalMixTransposed(p.a, p.dq, length: t, width: d, into: p.vRows)
        for i in 0..<(t * dp) { p.result[i] -= p.vRows[i] }
        scatterRows(p.result, rows: t, width: d, into: grad.k, stride: grad.qkStride)
    }

    /// The math as written, in Double: at every position t,
    /// Φ̂_t = (Σ_{t'≤t} γ^{t−t'} v_{t'} k_{t'}ᵀ)(Σ_{t'≤t} γ^{t−t'} k_{t'} k_{t'}ᵀ + γ^t I/λ)⁻¹,
    /// solved directly, and out_t = Φ̂_t q_t.
    public func reference(_ head: HeadSequence, parameters: [Double]) -> [[Double]] {
        let lambda = parameters[0], gamma = forget
        let dk = head.q.first?.count ?? 0, dv = head.v.first?.count ?? 0
        return (0..<head.length).map { t in
            var gram = Linalg.identity(dk, scale: Double.pow(gamma, Double(t + 1)) / lambda)
            var cross = [Double](repeating: 0, count: dv * dk)
            for tp in 0...t {
                let w = Double.pow(gamma, Double(t - tp)), k = head.k[tp], v = head.v[tp]
                for i in 0..<dk { for j in 0..<dk { gram[i * dk + j] += w * k[i] * k[j] } }
                for i in 0..<dv { for j in 0..<dk { cross[i * dk + j] += w * v[i] * k[j] } }
            }
            // Φ̂ = cross · gram⁻¹, so Φ̂ᵀ = gram⁻¹ crossᵀ (gram is symmetric).
            let phiT = Linalg.solve(gram, Linalg.transpose(cross, dv, dk), dk, dv)!
            return (0..<dv).map { i in (0..<dk).map { j in phiT[j * dv + i] * head.q[t][j] }.reduce(0, +) }
        }
    }
}

/// The mesa-layer over whole-batch tensors: q, k [B, T, H·d_k], v [B, T, H·d_v], λ [H].
public func mesaAttentionForward(q: Tensor, k: Tensor, v: Tensor, lambda: Tensor, heads: Int,
                                 forget gamma: Double = 1) -> Tensor {
    let spec = AttentionSpec(kind: .mesa, heads: heads, forget: gamma)
    return MesaCore(spec).batchForward(CausalAttentionInputs(spec, q: q, k: k, v: v, headParameters: [lambda]),
                                       record: false).out
}

/// Backward over whole-batch tensors: (dq, dk, dv, dλ); dλ sums over the batch in
/// `Parallel.reductionParts` fixed parts.
public func mesaAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, lambda: Tensor, heads: Int,
                                  forget gamma: Double = 1) -> (dq: Tensor, dk: Tensor, dv: Tensor, dLambda: Tensor) {
    let spec = AttentionSpec(kind: .mesa, heads: heads, forget: gamma)
    let g = MesaCore(spec).batchBackward(CausalAttentionInputs(spec, q: q, k: k, v: v, headParameters: [lambda]),
                                         dOut: dOut, weights: nil)
    return (g.dq, g.dk, g.dv, g.dHeadParameters[0])
}

/// Differentiable mesa attention over `heads` heads with per-head λ [H] (SPEC §2).
public func mesaAttention(_ q: Variable, _ k: Variable, _ v: Variable, lambda: Variable, heads: Int,
                          forget gamma: Double = 1) -> Variable {
    causalAttention(AttentionSpec(kind: .mesa, heads: heads, forget: gamma), q, k, v, headParameters: [lambda])
}

/// The reference over whole-batch tensors, in Double (one λ per head).
public func naiveMesaAttention(q: Tensor, k: Tensor, v: Tensor, lambda: [Double], heads: Int,
                               forget gamma: Double = 1) -> Tensor {
    precondition(lambda.count == heads, "one λ per head")
    return referenceAttention(AttentionSpec(kind: .mesa, heads: heads, forget: gamma), q: q, k: k, v: v,
                              headParameters: [lambda])
}
