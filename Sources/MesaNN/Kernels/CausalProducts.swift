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
            // Up to three vectors of columns per row: 12 accumulators.
            let w = min(3, (dp - c) / 8)
            var a00 = Vec<S>(), a01 = Vec<S>(), a02 = Vec<S>()
            var a10 = Vec<S>(), a11 = Vec<S>(), a12 = Vec<S>()
            var a20 = Vec<S>(), a21 = Vec<S>(), a22 = Vec<S>()
            var a30 = Vec<S>(), a31 = Vec<S>(), a32 = Vec<S>()
            for s in 0..<end {
                let vr = v + s * dp + c
                let v0 = loadVec(vr)
                let v1 = w > 1 ? loadVec(vr + 8) : Vec<S>()
                let v2 = w > 2 ? loadVec(vr + 16) : Vec<S>()
                let x0 = Vec(repeating: a[t0 * tp + s]), x1 = Vec(repeating: a[r1 * tp + s])
                let x2 = Vec(repeating: a[r2 * tp + s]), x3 = Vec(repeating: a[r3 * tp + s])
                a00 = a00.addingProduct(x0, v0); a01 = a01.addingProduct(x0, v1); a02 = a02.addingProduct(x0, v2)
                a10 = a10.addingProduct(x1, v0); a11 = a11.addingProduct(x1, v1); a12 = a12.addingProduct(x1, v2)
                a20 = a20.addingProduct(x2, v0); a21 = a21.addingProduct(x2, v1); a22 = a22.addingProduct(x2, v2)
                a30 = a30.addingProduct(x3, v0); a31 = a31.addingProduct(x3, v1); a32 = a32.addingProduct(x3, v2)
            }
            func put(_ r: Int, _ x0: Vec<S>, _ x1: Vec<S>, _ x2: Vec<S>) {
                guard r < t else { return }
                storeVec(x0, out + r * dp + c)
                if w > 1 { storeVec(x1, out + r * dp + c + 8) }
                if w > 2 { storeVec(x2, out + r * dp + c + 16) }
            }
            put(t0, a00, a01, a02); put(t0 + 1, a10, a11, a12); put(t0 + 2, a20, a21, a22); put(t0 + 3, a30, a31, a32)
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
            var a00 = Vec<S>(), a01 = Vec<S>(), a02 = Vec<S>()
            var a10 = Vec<S>(), a11 = Vec<S>(), a12 = Vec<S>()
            var a20 = Vec<S>(), a21 = Vec<S>(), a22 = Vec<S>()
            var a30 = Vec<S>(), a31 = Vec<S>(), a32 = Vec<S>()
            // Columns t0..t0+3 of A are zero above the diagonal, so rows from t0 on suffice;
            // the padding columns (≥ T) of A are zero too.
            for s in t0..<t {
                let gr = g + s * dp + c
                let g0 = loadVec(gr)
                let g1 = w > 1 ? loadVec(gr + 8) : Vec<S>()
                let g2 = w > 2 ? loadVec(gr + 16) : Vec<S>()
                let row = a + s * tp + t0
                let x0 = Vec(repeating: row[0]), x1 = Vec(repeating: row[1])
                let x2 = Vec(repeating: row[2]), x3 = Vec(repeating: row[3])
                a00 = a00.addingProduct(x0, g0); a01 = a01.addingProduct(x0, g1); a02 = a02.addingProduct(x0, g2)
                a10 = a10.addingProduct(x1, g0); a11 = a11.addingProduct(x1, g1); a12 = a12.addingProduct(x1, g2)
                a20 = a20.addingProduct(x2, g0); a21 = a21.addingProduct(x2, g1); a22 = a22.addingProduct(x2, g2)
                a30 = a30.addingProduct(x3, g0); a31 = a31.addingProduct(x3, g1); a32 = a32.addingProduct(x3, g2)
            }
            func put(_ r: Int, _ x0: Vec<S>, _ x1: Vec<S>, _ x2: Vec<S>) {
                guard r < end else { return }
                storeVec(x0, out + r * dp + c)
                if w > 1 { storeVec(x1, out + r * dp + c + 8) }
                if w > 2 { storeVec(x2, out + r * dp + c + 16) }
            }
            put(t0, a00, a01, a02); put(t0 + 1, a10, a11, a12); put(t0 + 2, a20, a21, a22); put(t0 + 3, a30, a31, a32)
            c += 8 * w
        }
        t0 += 4
    }
}
