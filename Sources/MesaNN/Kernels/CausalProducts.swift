import CSupport
import MesaTensor

// Register-blocked kernels for the three small products every causal attention needs, on
// one (sequence, head) at a time. T ≈ 50 and d ≈ 20 are too small for BLAS to shine (a
// call costs as much as the work) and half of each T×T product is masked away; these
// kernels skip the masked half and keep 4 rows × 3 SIMD vectors of results in registers.
//
// All operands are local, 64-byte-aligned, zero-padded panels:
//   rows [T][dp] with dp = d rounded up to 8, transposed [d][tp], scores [T][tp] with tp =
//   T rounded up to 8 (columns t' > t and padding hold zeros).
// The plain loops in LinearAttentionKernel.swift / SoftmaxAttentionKernel.swift are the
// references these are tested against.

typealias Vec<S: TensorScalar> = SIMD8<S>

@inline(__always) func roundUp8(_ n: Int) -> Int { (n + 7) & ~7 }

@inline(__always)
func loadVec<S: TensorScalar>(_ p: UnsafePointer<S>) -> Vec<S> {
    UnsafeRawPointer(p).load(as: Vec<S>.self)
}

@inline(__always)
func loadVecUnaligned<S: TensorScalar>(_ p: UnsafePointer<S>) -> Vec<S> {
    UnsafeRawPointer(p).loadUnaligned(as: Vec<S>.self)
}

@inline(__always)
func storeVec<S: TensorScalar>(_ v: Vec<S>, _ p: UnsafeMutablePointer<S>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec<S>.self)
}

/// Scratch memory for one worker: aligned panels reused across (sequence, head) jobs.
final class PanelScratch<S: TensorScalar> {
    let base: UnsafeMutablePointer<S>
    private var used = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity * MemoryLayout<S>.stride, alignment: 64)
            .bindMemory(to: S.self, capacity: capacity)
    }

    deinit { base.deallocate() }

    /// A fresh aligned panel of `count` elements (valid until the scratch is freed).
    func panel(_ count: Int) -> UnsafeMutablePointer<S> {
        let p = base + used
        used += roundUp8(count)
        precondition(used <= capacity, "panel scratch too small")
        return p
    }
}

/// dst[t][i] = src[t·stride + i] for i < d, zero for d ≤ i < dp.
@inline(__always)
func gatherRows<S: TensorScalar>(_ src: UnsafePointer<S>, stride: Int, rows t: Int, width d: Int,
                                 into dst: UnsafeMutablePointer<S>, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_gather_rows(asFloat(src), stride, t, d, asFloat(dst))
        return
    }
    let dp = roundUp8(d), full = d / 8 * 8
    for r in 0..<t {
        let from = UnsafeRawPointer(src + r * stride), to = dst + r * dp
        for c in Swift.stride(from: 0, to: full, by: 8) {
            storeVec(from.loadUnaligned(fromByteOffset: c * MemoryLayout<S>.stride, as: Vec<S>.self), to + c)
        }
        if full < dp {
            var tail = Vec<S>()
            for i in full..<d { tail[i - full] = src[r * stride + i] }
            storeVec(tail, to + full)
        }
    }
}

/// dst[i][t] = src[t·stride + i], zero for T ≤ t < tp.
@inline(__always)
func gatherTransposed<S: TensorScalar>(_ src: UnsafePointer<S>, stride: Int, rows t: Int, width d: Int,
                                       into dst: UnsafeMutablePointer<S>, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_gather_transposed(asFloat(src), stride, t, d, asFloat(dst))
        return
    }
    let tp = roundUp8(t)
    for i in 0..<d {
        for r in 0..<t { dst[i * tp + r] = src[r * stride + i] }
        for r in t..<tp { dst[i * tp + r] = 0 }
    }
}

/// dst[t·stride + i] = scale · src[t][i] for i < d.
@inline(__always)
func scatterRows<S: TensorScalar>(_ src: UnsafePointer<S>, rows t: Int, width d: Int, scale: S = 1,
                                  into dst: UnsafeMutablePointer<S>, stride: Int, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_scatter_rows(asFloat(src), t, d, unsafeBitCast(scale, to: Float.self), asFloat(dst), stride)
        return
    }
    let dp = roundUp8(d), full = d / 8 * 8
    for r in 0..<t {
        let to = UnsafeMutableRawPointer(dst + r * stride), from = src + r * dp
        for c in Swift.stride(from: 0, to: full, by: 8) {
            to.storeBytes(of: loadVec(from + c) * scale, toByteOffset: c * MemoryLayout<S>.stride, as: Vec<S>.self)
        }
        for i in full..<d { dst[r * stride + i] = scale * from[i] }
    }
}

/// S[t][t'] = scale · x_tᵀ y_{t'} for t' ≤ t, 0 otherwise. x: rows [T][dp]; yT: [d][tp].
@inline(__always)
func causalScores<S: TensorScalar>(x: UnsafePointer<S>, yT: UnsafePointer<S>, length t: Int, width d: Int,
                                   scale: S, into out: UnsafeMutablePointer<S>, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_scores(asFloat(x), asFloat(yT), t, d, unsafeBitCast(scale, to: Float.self), asFloat(out))
        return
    }
    let dp = roundUp8(d), tp = roundUp8(t)
    var t0 = 0
    while t0 < t {
        // Rows t0..t0+3 (clamped at the end; clamped rows are computed but not stored).
        let r0 = t0, r1 = min(t0 + 1, t - 1), r2 = min(t0 + 2, t - 1), r3 = min(t0 + 3, t - 1)
        let end = min(t0 + 4, t)
        var c0 = 0
        // Two column vectors at a time while both are needed: 8 accumulators, and each
        // broadcast of x feeds two FMAs.
        while c0 + 8 < end {
            var a0 = Vec<S>(), a1 = Vec<S>(), a2 = Vec<S>(), a3 = Vec<S>()
            var b0 = Vec<S>(), b1 = Vec<S>(), b2 = Vec<S>(), b3 = Vec<S>()
            for i in 0..<d {
                let y = loadVec(yT + i * tp + c0), z = loadVec(yT + i * tp + c0 + 8)
                let x0 = Vec(repeating: x[r0 * dp + i]), x1 = Vec(repeating: x[r1 * dp + i])
                let x2 = Vec(repeating: x[r2 * dp + i]), x3 = Vec(repeating: x[r3 * dp + i])
                a0 = a0.addingProduct(x0, y); b0 = b0.addingProduct(x0, z)
                a1 = a1.addingProduct(x1, y); b1 = b1.addingProduct(x1, z)
                a2 = a2.addingProduct(x2, y); b2 = b2.addingProduct(x2, z)
                a3 = a3.addingProduct(x3, y); b3 = b3.addingProduct(x3, z)
            }
            storeVec(a0 * scale, out + t0 * tp + c0); storeVec(b0 * scale, out + t0 * tp + c0 + 8)
            if t0 + 1 < t { storeVec(a1 * scale, out + (t0 + 1) * tp + c0); storeVec(b1 * scale, out + (t0 + 1) * tp + c0 + 8) }
            if t0 + 2 < t { storeVec(a2 * scale, out + (t0 + 2) * tp + c0); storeVec(b2 * scale, out + (t0 + 2) * tp + c0 + 8) }
            if t0 + 3 < t { storeVec(a3 * scale, out + (t0 + 3) * tp + c0); storeVec(b3 * scale, out + (t0 + 3) * tp + c0 + 8) }
            c0 += 16
        }
        while c0 < end {
            var a0 = Vec<S>(), a1 = Vec<S>(), a2 = Vec<S>(), a3 = Vec<S>()
            for i in 0..<d {
                let y = loadVec(yT + i * tp + c0)
                a0 = a0.addingProduct(Vec(repeating: x[r0 * dp + i]), y)
                a1 = a1.addingProduct(Vec(repeating: x[r1 * dp + i]), y)
                a2 = a2.addingProduct(Vec(repeating: x[r2 * dp + i]), y)
                a3 = a3.addingProduct(Vec(repeating: x[r3 * dp + i]), y)
            }
            storeVec(a0 * scale, out + t0 * tp + c0)
            if t0 + 1 < t { storeVec(a1 * scale, out + (t0 + 1) * tp + c0) }
            if t0 + 2 < t { storeVec(a2 * scale, out + (t0 + 2) * tp + c0) }
            if t0 + 3 < t { storeVec(a3 * scale, out + (t0 + 3) * tp + c0) }
            c0 += 8
        }
        // Zero the future t' > t: the few computed lanes past the diagonal one by one (SIMD
        // lane masks would be scalarized by the compiler), whole vectors after them.
        for r in t0..<end {
            for c in (r + 1)..<c0 { out[r * tp + c] = 0 }
            for c in stride(from: c0, to: tp, by: 8) { storeVec(Vec<S>(), out + r * tp + c) }
        }
        t0 += 4
    }
}

/// The register block of every mix here (`causalMix`, `causalMixTransposed`, `denseAccumulate`):
/// for four rows r = 0…3, Σ_s w_r(s) · m_s over s in `inner`, in increasing s, one FMA per term,
/// on up to three 8-wide vectors of columns (12 accumulators); m_s = rows + s · stride. The
/// mixes differ only in which s run, where the weights w(s) = (w_0(s), …, w_3(s)) come from and
/// how the block is stored.
struct FourRowSums<S: TensorScalar> {
    struct Row {
        var v0 = Vec<S>(), v1 = Vec<S>(), v2 = Vec<S>()

        @inline(__always)
        mutating func add(_ x: S, _ m0: Vec<S>, _ m1: Vec<S>, _ m2: Vec<S>) {
            let xv = Vec(repeating: x)
            v0 = v0.addingProduct(xv, m0); v1 = v1.addingProduct(xv, m1); v2 = v2.addingProduct(xv, m2)
        }

        /// body(vector, column offset) for the first `w` vectors.
        @inline(__always)
        func forEachVector(_ w: Int, _ body: (Vec<S>, Int) -> Void) {
            body(v0, 0)
            if w > 1 { body(v1, 8) }
            if w > 2 { body(v2, 16) }
        }

        @inline(__always)
        func store(_ p: UnsafeMutablePointer<S>, vectors w: Int) { forEachVector(w) { v, c in storeVec(v, p + c) } }
    }

    var r0 = Row(), r1 = Row(), r2 = Row(), r3 = Row()

    @inline(__always)
    init(_ inner: Range<Int>, rows: UnsafePointer<S>, stride: Int, vectors w: Int, weights: (Int) -> (S, S, S, S)) {
        for s in inner {
            let m = rows + s * stride
            let m0 = loadVec(m), m1 = w > 1 ? loadVec(m + 8) : Vec<S>(), m2 = w > 2 ? loadVec(m + 16) : Vec<S>()
            let (x0, x1, x2, x3) = weights(s)
            r0.add(x0, m0, m1, m2); r1.add(x1, m0, m1, m2); r2.add(x2, m0, m1, m2); r3.add(x3, m0, m1, m2)
        }
    }

    @inline(__always)
    func forEachRow(_ body: (Int, Row) -> Void) { body(0, r0); body(1, r1); body(2, r2); body(3, r3) }
}

/// out[t] = Σ_{t' ≤ t} A[t][t'] v_{t'}: A [T][tp] (zero above the diagonal), v rows [T][dp].
@inline(__always)
func causalMix<S: TensorScalar>(_ a: UnsafePointer<S>, _ v: UnsafePointer<S>, length t: Int, width d: Int,
                                into out: UnsafeMutablePointer<S>, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_mix(asFloat(a), asFloat(v), t, d, asFloat(out))
        return
    }
    let dp = roundUp8(d), tp = roundUp8(t)
    var t0 = 0
    while t0 < t {
        let r1 = min(t0 + 1, t - 1), r2 = min(t0 + 2, t - 1), r3 = min(t0 + 3, t - 1)
        let end = min(t0 + 4, t)
        var c = 0
        while c < dp {
            let w = min(3, (dp - c) / 8)
            let sums = FourRowSums(0..<end, rows: v + c, stride: dp, vectors: w) { s in
                (a[t0 * tp + s], a[r1 * tp + s], a[r2 * tp + s], a[r3 * tp + s])
            }
            sums.forEachRow { r, row in
                if t0 + r < t { row.store(out + (t0 + r) * dp + c, vectors: w) }
            }
            c += 8 * w
        }
        t0 += 4
    }
}

/// out rows (stride outStride, columns < d) = scale · causalMix(A, v) for v rows at stride
/// vStride: gatherRows → causalMix → scatterRows through the panels `vRows` and `result`
/// ([T][dp] each), or on the AVX-512 path (Float) the one in-place kernel that does the same
/// FMAs without the copies (scorecore512.c's mesa512_causal_mix_strided, same bits:
/// WideKernelTests.stridedProductsMatchBitForBit).
@inline(__always)
func causalMixRows<S: TensorScalar>(_ a: UnsafePointer<S>, _ v: UnsafePointer<S>, vStride: Int, length t: Int,
                                    width d: Int, scale: S = 1, into out: UnsafeMutablePointer<S>, outStride: Int,
                                    vRows: UnsafeMutablePointer<S>, result: UnsafeMutablePointer<S>,
                                    wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_mix_strided(asFloat(a), asFloat(v), vStride, t, d, unsafeBitCast(scale, to: Float.self),
                                   asFloat(out), outStride)
        return
    }
    gatherRows(v, stride: vStride, rows: t, width: d, into: vRows, wide: wide)
    causalMix(a, vRows, length: t, width: d, into: result, wide: wide)
    scatterRows(result, rows: t, width: d, scale: scale, into: out, stride: outStride, wide: wide)
}

/// out[t'] = Σ_{t ≥ t'} A[t][t'] g_t: the transpose of `causalMix` (A [T][tp], g rows [T][dp]).
@inline(__always)
func causalMixTransposed<S: TensorScalar>(_ a: UnsafePointer<S>, _ g: UnsafePointer<S>, length t: Int, width d: Int,
                                          into out: UnsafeMutablePointer<S>, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_mix_transposed(asFloat(a), asFloat(g), t, d, asFloat(out))
        return
    }
    let dp = roundUp8(d), tp = roundUp8(t)
    var t0 = 0
    while t0 < t {
        let end = min(t0 + 4, t)
        var c = 0
        while c < dp {
            let w = min(3, (dp - c) / 8)
            // Columns t0..t0+3 of A are zero above the diagonal, so rows from t0 on suffice;
            // the padding columns (≥ T) of A are zero too.
            let sums = FourRowSums(t0..<t, rows: g + c, stride: dp, vectors: w) { s in
                let row = a + s * tp + t0
                return (row[0], row[1], row[2], row[3])
            }
            sums.forEachRow { r, row in
                if t0 + r < end { row.store(out + (t0 + r) * dp + c, vectors: w) }
            }
            c += 8 * w
        }
        t0 += 4
    }
}
