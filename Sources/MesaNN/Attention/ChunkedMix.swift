import MesaTensor

// The causal mix of linear attention in chunked form (issue 14, "Cost curves"):
//   out_t = Σ_{t'≤t} γ^{t−t'} (x_tᵀ y_{t'}) z_{t'}
// (linear attention: x = q, y = k, z = v, γ = 1; the mesa-layer's read-out: x = q̃ = R_t q_t).
// The quadratic form builds the T×T weights; this one cuts the sequence into chunks of C
// positions and carries the state S = Σ_{t'} γ^{c−1−t'} y_{t'} z_{t'}ᵀ (d × e) from chunk to
// chunk. For the chunk of positions c0…c0+n−1 (local index r = t − c0):
//   out_t = Σ_{c0≤t'≤t} γ^{t−t'} (x_tᵀ y_{t'}) z_{t'}     (the masked quadratic product, C×C)
//         + γ^{r+1} Sᵀ x_t                                  (what the earlier chunks wrote)
//   S ← γ^n S + Σ_{r<n} γ^{n−1−r} y_r z_rᵀ
// Work per head O(T·C·(d + e) + T·d·e) and memory O(C² + d·e) instead of O(T²·(d + e)) and
// O(T²). C = 1 would be the plain recurrence S_t = γ S_{t−1} + y_t z_tᵀ, out_t = S_tᵀ x_t; a
// chunk of 32 lets the in-chunk part run through the register-blocked kernels of
// CausalProducts.swift. The anti-causal mix the backward needs,
//   out_{t'} = Σ_{t≥t'} γ^{t−t'} (x_{t'}ᵀ y_t) z_t,
// is the same computation on the reversed sequence (`reverse`: rows read from the end with
// negated strides).
//
// Which form runs is chosen per call from a cost model (`ChunkedMix.prefersChunked`), or
// forced by `AttentionSpec.form`.

/// The form of a core's causal mix.
public enum AttentionForm: String, Sendable, Codable, CaseIterable {
    /// Chosen from T, d_k and d_v by `ChunkedMix.prefersChunked`.
    case automatic
    /// The T×T weights (CausalProducts.swift).
    case quadratic
    /// Chunks of `ChunkedMix.chunk` positions with a carried d_k × d_v state (this file).
    case chunked
}

public enum ChunkedMix {
    /// Positions per chunk.
    public static let chunk = 32

    /// The measured crossover factors κ of the rule below, per kind (BENCHMARKS.md, "Recurrent
    /// and chunked forms"; three runs of `mesa bench --scaling` at d_k = d_v 20 put linear
    /// attention's crossover at T 112–160 and the mesa-layer's at T 160).
    public static let crossoverFactor = 4.0
    public static let mesaCrossoverFactor = 6.0

    /// The cost model. Per head and per mix, in multiply–adds: the quadratic form
    /// T²(d + e)/2 (half of T×T scores of width d and of the T×T mix of width e); the
    /// chunked form T·C(d + e)/2 + 2T·d·e (the same inside each chunk, plus the state's
    /// read-out and update). Equal at T = C + 4de/(d + e); the chunked form's smaller
    /// products run less efficiently, so the switch is at
    ///     T > C + κ · 2de/(d + e)
    /// with κ measured (`mesa bench --scaling`); d_k = d_v = 20: T > 32 + 20κ (linear
    /// attention: T > 112; the mesa-layer's read-out, whose quadratic backward shares more
    /// work between its products: κ = 6, T > 152).
    public static func prefersChunked(length t: Int, keySize d: Int, valueSize e: Int,
                                      crossoverFactor κ: Double = crossoverFactor) -> Bool {
        guard t > chunk else { return false }
        let harmonic = 2 * Double(d) * Double(e) / Double(max(1, d + e))
        return Double(t) > Double(chunk) + κ * harmonic
    }

    /// Whether `form` runs chunked at these sizes.
    public static func usesChunked(_ form: AttentionForm, length t: Int, keySize d: Int, valueSize e: Int,
                                   crossoverFactor κ: Double = crossoverFactor) -> Bool {
        switch form {
        case .automatic: return prefersChunked(length: t, keySize: d, valueSize: e, crossoverFactor: κ)
        case .quadratic: return false
        case .chunked: return true
        }
    }
}

/// The panels of one chunked mix, carved from scratch in a fixed order (width w = the larger
/// of d and e, so one scratch serves every mix of a head).
struct ChunkPanels<S: TensorScalar> {
    let x: UnsafeMutablePointer<S>, yT: UnsafeMutablePointer<S>, z: UnsafeMutablePointer<S>
    let a: UnsafeMutablePointer<S>, result: UnsafeMutablePointer<S>, state: UnsafeMutablePointer<S>
    let powers: UnsafeMutablePointer<S>

    static func count(width w: Int) -> Int {
        let c = ChunkedMix.chunk, wp = roundUp8(w)
        return 3 * c * wp + wp * c + c * c + wp * wp + (c + 1) + 7 * 8
    }

    @inline(__always)
    init(_ scratch: UnsafeMutablePointer<S>, width w: Int) {
        let c = ChunkedMix.chunk, wp = roundUp8(w)
        var carver = PanelCarver(scratch)
        x = carver.panel(c * wp); yT = carver.panel(wp * c); z = carver.panel(c * wp)
        a = carver.panel(c * c); result = carver.panel(c * wp); state = carver.panel(wp * wp)
        powers = carver.panel(c + 1)
    }
}

/// out[r] = outScale · out[r] + f_r · Σ_{s<k} coef[r·coefStride + s] · mat[s]   for r < m, with
/// f_r = rowScale[r] (1 when nil); rows of `mat` and `out` [·][ep], e ≤ ep = e rounded up to 8.
/// 4 rows × up to 3 vectors of columns in registers (`FourRowSums`, as in `causalMix`, unmasked).
@inline(__always)
func denseAccumulate<S: TensorScalar>(coef: UnsafePointer<S>, coefStride: Int, rows m: Int, inner k: Int,
                                      mat: UnsafePointer<S>, width e: Int, rowScale: UnsafePointer<S>?, outScale: S,
                                      into out: UnsafeMutablePointer<S>) {
    let ep = roundUp8(e)
    var r0 = 0
    while r0 < m {
        let r1 = min(r0 + 1, m - 1), r2 = min(r0 + 2, m - 1), r3 = min(r0 + 3, m - 1)
        var c = 0
        while c < ep {
            let w = min(3, (ep - c) / 8)
            let sums = FourRowSums(0..<k, rows: mat + c, stride: ep, vectors: w) { s in
                (coef[r0 * coefStride + s], coef[r1 * coefStride + s], coef[r2 * coefStride + s], coef[r3 * coefStride + s])
            }
            sums.forEachRow { r, sum in
                guard r0 + r < m else { return }
                let f = Vec<S>(repeating: rowScale?[r0 + r] ?? 1), o = Vec<S>(repeating: outScale)
                let row = out + (r0 + r) * ep + c
                sum.forEachVector(w) { x, j in storeVec((loadVec(row + j) * o).addingProduct(f, x), row + j) }
            }
            c += 8 * w
        }
        r0 += 4
    }
}

/// out_t = scale · Σ_{t'≤t} γ^{t−t'} (x_tᵀ y_{t'}) z_{t'} for t < T (or, `reverse`, the
/// anti-causal Σ_{t'≥t}), written (or, `accumulate`, added) to rows of `out`. x, y: rows of
/// width d; z, out: rows of width e; each with its own row stride. `scratch` holds
/// `ChunkPanels.count(width: max(d, e))` elements, 64-byte aligned.
@inline(__always)
func chunkedCausalMix<S: TensorScalar>(x: UnsafePointer<S>, xStride: Int, y: UnsafePointer<S>, yStride: Int, width d: Int,
                                       z: UnsafePointer<S>, zStride: Int, zWidth e: Int, length t: Int, gamma: S,
                                       reverse: Bool, out: UnsafeMutablePointer<S>, outStride: Int, scale: S = 1,
                                       accumulate: Bool = false, scratch: UnsafeMutablePointer<S>) {
    guard t > 0 else { return }
    let c = ChunkedMix.chunk, ep = roundUp8(e)
    let p = ChunkPanels<S>(scratch, width: max(d, e))
    // Reversed: position i of the sequence is row T−1−i.
    let last = t - 1
    let (x, xs) = reverse ? (x + last * xStride, -xStride) : (x, xStride)
    let (y, ys) = reverse ? (y + last * yStride, -yStride) : (y, yStride)
    let (z, zs) = reverse ? (z + last * zStride, -zStride) : (z, zStride)
    let (o, os) = reverse ? (out + last * outStride, -outStride) : (out, outStride)
    for i in 0..<(d * ep) { p.state[i] = 0 }
    if gamma != 1 {
        var w: S = 1
        for i in 0...c { p.powers[i] = w; w *= gamma }
    }
    var c0 = 0
    while c0 < t {
        let n = min(c, t - c0), np = roundUp8(n)
        gatherRows(x + c0 * xs, stride: xs, rows: n, width: d, into: p.x)
        gatherTransposed(y + c0 * ys, stride: ys, rows: n, width: d, into: p.yT)
        gatherRows(z + c0 * zs, stride: zs, rows: n, width: e, into: p.z)
        // Inside the chunk: the masked quadratic product.
        causalScores(x: p.x, yT: p.yT, length: n, width: d, scale: 1, into: p.a)
        if gamma != 1 {
            for r in 0..<n { for j in 0...r { p.a[r * np + j] *= p.powers[r - j] } }
        }
        causalMix(p.a, p.z, length: n, width: e, into: p.result)
        // What the earlier chunks wrote: γ^{r+1} Sᵀ x_r.
        if c0 > 0 {
            denseAccumulate(coef: p.x, coefStride: roundUp8(d), rows: n, inner: d, mat: p.state, width: e,
                            rowScale: gamma != 1 ? UnsafePointer(p.powers + 1) : nil, outScale: 1, into: p.result)
        }
        let rows = o + c0 * os
        if accumulate {
            for r in 0..<n { for j in 0..<e { rows[r * os + j] += scale * p.result[r * ep + j] } }
        } else {
            scatterRows(p.result, rows: n, width: e, scale: scale, into: rows, stride: os)
        }
        // S ← γ^n S + Σ_r γ^{n−1−r} y_r z_rᵀ (yT's columns weighted in place: it is not read again).
        if c0 + n < t {
            if gamma != 1 {
                for i in 0..<d { for r in 0..<n { p.yT[i * np + r] *= p.powers[n - 1 - r] } }
            }
            denseAccumulate(coef: p.yT, coefStride: np, rows: d, inner: n, mat: p.z, width: e, rowScale: nil,
                            outScale: gamma != 1 ? p.powers[n] : 1, into: p.state)
        }
        c0 += n
    }
}
