// 16-lane (AVX-512) Float32 versions of the score core's kernels (MesaNN's CausalProducts.swift
// and SoftmaxCore.swift), bit for bit the same results as those Swift kernels: lanes index
// independent output columns, and every output element is the same sequence of fused
// multiply-adds in the same order over the inner index; scale, mask, exp and softmax do the
// same operations in the same order (the horizontal sums of the softmax stay 8 lanes wide,
// as in Swift). Only the functions marked MESA_AVX512 use AVX-512, and they run only after
// mesa_cpu_has_avx512() said yes (MesaNN's ScoreKernels). No fusing beyond the written FMAs:
#pragma clang fp contract(off)

#include "CSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

int mesa_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
}

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_INLINE static inline __attribute__((always_inline))

static inline long ru8(long n) { return (n + 7) & ~7L; }
static inline long lmin(long a, long b) { return a < b ? a : b; }

/// Lanes [0, n) of a 16-lane mask (n clamped to 0...16).
static inline __mmask16 lanes(long n) {
    if (n <= 0) return 0;
    if (n >= 16) return 0xFFFF;
    return (__mmask16)((1u << n) - 1);
}

// ---------------------------------------------------------------------------------------------
// Lines to ask the caches for while the kernels compute (mesa_prefetch_soon): the attention
// layer's backward queues the next head's kept weights and the next sequence's [Q K V] rows, both
// written by the forward long before and out of the cache, and each kernel below asks for a few of
// the queued lines per block of rows ("drips"). Asked for all at once, 200–700 lines per head
// filled the core's line-fill buffers and the loop that asked waited for memory as long as the
// kernels would have (BENCHMARKS.md, "Stop 19"); a few per block overlap with the arithmetic.
// Hints only: nothing is read or written, so no result changes. Per thread, at most four regions;
// a fifth drops the oldest.

enum { SOON_REGIONS = 4 };
static _Thread_local struct {
    const char *next[SOON_REGIONS], *end[SOON_REGIONS];
    int first, count;
} soon;

void mesa_prefetch_soon(const void *p, long bytes) {
    if (bytes <= 0) return;
    if (soon.count == SOON_REGIONS) {
        soon.first = (soon.first + 1) % SOON_REGIONS;
        soon.count -= 1;
    }
    const int i = (soon.first + soon.count) % SOON_REGIONS;
    soon.next[i] = (const char *)p;
    soon.end[i] = (const char *)p + bytes;
    soon.count += 1;
}

long mesa_prefetch_soon_pending(void) {
    long lines = 0;
    for (int k = 0; k < soon.count; k++) {
        const int i = (soon.first + k) % SOON_REGIONS;
        lines += (soon.end[i] - soon.next[i] + 63) / 64;
    }
    return lines;
}

void mesa_prefetch_soon_clear(void) { soon.count = 0; }

/// Asks for up to `lines` of the queued lines (into L2), oldest region first.
MESA_AVX512 MESA_INLINE void drip(int lines) {
    while (lines > 0 && soon.count > 0) {
        const int i = soon.first;
        if (soon.next[i] >= soon.end[i]) {
            soon.first = (i + 1) % SOON_REGIONS;
            soon.count -= 1;
            continue;
        }
        _mm_prefetch(soon.next[i], _MM_HINT_T1);
        soon.next[i] += 64;
        lines -= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// S[t][t'] = scale · x_tᵀ y_{t'} for t' ≤ t, 0 otherwise. x: rows [T][dp], or any row stride xs
// (only x[t][i] for i < d is read, one broadcast each); yT: [d][tp].

MESA_AVX512 MESA_INLINE void scoresStore(float *out, long r, long c0, long tp, __m512 acc, __m512 vs) {
    __mmask16 keep = lanes(r - c0 + 1), inPanel = lanes(tp - c0);
    _mm512_mask_storeu_ps(out + r * tp + c0, inPanel, _mm512_maskz_mov_ps(keep, _mm512_mul_ps(acc, vs)));
}

MESA_AVX512 MESA_INLINE void scoresRows(const float *x, long xs, const float *yT, long t, long d, float scale, float *out) {
    const long tp = ru8(t);
    const __m512 vs = _mm512_set1_ps(scale);
    for (long t0 = 0; t0 < t; t0 += 4) {
        drip(6);
        const long end = lmin(t0 + 4, t);
        const float *x0 = x + t0 * xs, *x1 = x + lmin(t0 + 1, t - 1) * xs;
        const float *x2 = x + lmin(t0 + 2, t - 1) * xs, *x3 = x + lmin(t0 + 3, t - 1) * xs;
        long c0 = 0;
        while (c0 + 16 < end) {
            const __mmask16 m0 = lanes(tp - c0), m1 = lanes(tp - c0 - 16);
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (long i = 0; i < d; i++) {
                const __m512 y = _mm512_maskz_loadu_ps(m0, yT + i * tp + c0);
                const __m512 z = _mm512_maskz_loadu_ps(m1, yT + i * tp + c0 + 16);
                const __m512 p0 = _mm512_set1_ps(x0[i]), p1 = _mm512_set1_ps(x1[i]);
                const __m512 p2 = _mm512_set1_ps(x2[i]), p3 = _mm512_set1_ps(x3[i]);
                a0 = _mm512_fmadd_ps(p0, y, a0); b0 = _mm512_fmadd_ps(p0, z, b0);
                a1 = _mm512_fmadd_ps(p1, y, a1); b1 = _mm512_fmadd_ps(p1, z, b1);
                a2 = _mm512_fmadd_ps(p2, y, a2); b2 = _mm512_fmadd_ps(p2, z, b2);
                a3 = _mm512_fmadd_ps(p3, y, a3); b3 = _mm512_fmadd_ps(p3, z, b3);
            }
            scoresStore(out, t0, c0, tp, a0, vs); scoresStore(out, t0, c0 + 16, tp, b0, vs);
            if (t0 + 1 < t) { scoresStore(out, t0 + 1, c0, tp, a1, vs); scoresStore(out, t0 + 1, c0 + 16, tp, b1, vs); }
            if (t0 + 2 < t) { scoresStore(out, t0 + 2, c0, tp, a2, vs); scoresStore(out, t0 + 2, c0 + 16, tp, b2, vs); }
            if (t0 + 3 < t) { scoresStore(out, t0 + 3, c0, tp, a3, vs); scoresStore(out, t0 + 3, c0 + 16, tp, b3, vs); }
            c0 += 32;
        }
        while (c0 < end) {
            const __mmask16 m0 = lanes(tp - c0);
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (long i = 0; i < d; i++) {
                const __m512 y = _mm512_maskz_loadu_ps(m0, yT + i * tp + c0);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(x0[i]), y, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(x1[i]), y, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(x2[i]), y, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(x3[i]), y, a3);
            }
            scoresStore(out, t0, c0, tp, a0, vs);
            if (t0 + 1 < t) scoresStore(out, t0 + 1, c0, tp, a1, vs);
            if (t0 + 2 < t) scoresStore(out, t0 + 2, c0, tp, a2, vs);
            if (t0 + 3 < t) scoresStore(out, t0 + 3, c0, tp, a3, vs);
            c0 += 16;
        }
        // The future beyond the computed columns.
        const __m512 zero = _mm512_setzero_ps();
        for (long r = t0; r < end; r++)
            for (long c = c0; c < tp; c += 16) _mm512_mask_storeu_ps(out + r * tp + c, lanes(tp - c), zero);
    }
}

MESA_AVX512 void mesa512_causal_scores(const float *x, const float *yT, long t, long d, float scale, float *out) {
    scoresRows(x, ru8(d), yT, t, d, scale, out);
}

MESA_AVX512 void mesa512_causal_scores_strided(const float *x, long xStride, const float *yT, long t, long d,
                                               float scale, float *out) {
    scoresRows(x, xStride, yT, t, d, scale, out);
}

// ---------------------------------------------------------------------------------------------
// The two mixes share one block: output rows t0..t0+3 (stored while < end), NV vectors of 16
// columns from c, out[t0 + j] = Σ_{s = s0}^{s1 − 1} w_j[s · step] x_s in order of s, one FMA per
// term as the Swift kernels do. x rows have stride xs and out rows stride os; both are read and
// written in columns < w only (masked): w = dp for the zero-padded panels [T][dp] (xs = os = dp),
// w = d for rows read and written in place in a strided buffer (the [Q K V] rows), where nothing
// at or beyond column d is touched. Scaled: each sum is multiplied by vs once after its chain, as
// scatter_rows did with the panel's result (the same bits).

MESA_AVX512 MESA_INLINE void weightedRowsBlock(const float *w0, const float *w1, const float *w2, const float *w3,
                                               long step, long s0, long s1, const float *x, long xs, long w, long t0,
                                               long end, long c, const int nv, const int scaled, __m512 vs,
                                               float *out, long os) {
    const __mmask16 m0 = lanes(w - c), m1 = lanes(w - c - 16), m2 = lanes(w - c - 32);
    __m512 z = _mm512_setzero_ps();
    __m512 s00 = z, s01 = z, s02 = z, s10 = z, s11 = z, s12 = z, s20 = z, s21 = z, s22 = z, s30 = z, s31 = z, s32 = z;
    for (long s = s0; s < s1; s++) {
        const float *xr = x + s * xs + c;
        const __m512 x0 = _mm512_maskz_loadu_ps(m0, xr);
        const __m512 x1 = nv > 1 ? _mm512_maskz_loadu_ps(m1, xr + 16) : z;
        const __m512 x2 = nv > 2 ? _mm512_maskz_loadu_ps(m2, xr + 32) : z;
        const __m512 p0 = _mm512_set1_ps(w0[s * step]), p1 = _mm512_set1_ps(w1[s * step]);
        const __m512 p2 = _mm512_set1_ps(w2[s * step]), p3 = _mm512_set1_ps(w3[s * step]);
        s00 = _mm512_fmadd_ps(p0, x0, s00); s10 = _mm512_fmadd_ps(p1, x0, s10);
        s20 = _mm512_fmadd_ps(p2, x0, s20); s30 = _mm512_fmadd_ps(p3, x0, s30);
        if (nv > 1) {
            s01 = _mm512_fmadd_ps(p0, x1, s01); s11 = _mm512_fmadd_ps(p1, x1, s11);
            s21 = _mm512_fmadd_ps(p2, x1, s21); s31 = _mm512_fmadd_ps(p3, x1, s31);
        }
        if (nv > 2) {
            s02 = _mm512_fmadd_ps(p0, x2, s02); s12 = _mm512_fmadd_ps(p1, x2, s12);
            s22 = _mm512_fmadd_ps(p2, x2, s22); s32 = _mm512_fmadd_ps(p3, x2, s32);
        }
    }
#define MESA_OUT(y) (scaled ? _mm512_mul_ps(y, vs) : (y))
#define MESA_PUT(r, y0, y1, y2)                                                           \
    if ((r) < end) {                                                                      \
        _mm512_mask_storeu_ps(out + (r) * os + c, m0, MESA_OUT(y0));                      \
        if (nv > 1) _mm512_mask_storeu_ps(out + (r) * os + c + 16, m1, MESA_OUT(y1));     \
        if (nv > 2) _mm512_mask_storeu_ps(out + (r) * os + c + 32, m2, MESA_OUT(y2));     \
    }
    MESA_PUT(t0, s00, s01, s02) MESA_PUT(t0 + 1, s10, s11, s12)
    MESA_PUT(t0 + 2, s20, s21, s22) MESA_PUT(t0 + 3, s30, s31, s32)
#undef MESA_PUT
#undef MESA_OUT
}

// One mix's operands: x rows (stride xs), out rows (stride os), the column count w that both are
// read and written in, and whether (and by what) the result is scaled.
typedef struct {
    const float *x;
    long xs;
    float *out;
    long os, w;
    __m512 vs;
} MixOperands;

// out[t] = Σ_{t' ≤ t} A[t][t'] v_{t'} (A [T][tp]); rows in blocks of four, each summing over
// s < min(t0 + 4, T) as the Swift kernel does (rows past T − 1 read row T − 1 and are not stored).
MESA_AVX512 MESA_INLINE void mixBlock(const float *a, MixOperands o, long t, long tp, long t0, long c, const int nv,
                                      const int scaled) {
    const long end = lmin(t0 + 4, t);
    weightedRowsBlock(a + t0 * tp, a + lmin(t0 + 1, t - 1) * tp, a + lmin(t0 + 2, t - 1) * tp,
                      a + lmin(t0 + 3, t - 1) * tp, 1, 0, end, o.x, o.xs, o.w, t0, end, c, nv, scaled, o.vs,
                      o.out, o.os);
}

// out[t'] = Σ_{t ≥ t'} A[t][t'] g_t: the transpose of the mix; rows t0..t0+3 sum over s ≥ t0,
// reading columns t0..t0+3 of A (inside the padded row width tp).
MESA_AVX512 MESA_INLINE void mixTransposedBlock(const float *a, MixOperands o, long t, long tp, long t0, long c,
                                                const int nv, const int scaled) {
    weightedRowsBlock(a + t0, a + t0 + 1, a + t0 + 2, a + t0 + 3, tp, t0, t, o.x, o.xs, o.w, t0, lmin(t0 + 4, t), c,
                      nv, scaled, o.vs, o.out, o.os);
}

// The mix (transposed = 0) or its transpose (1) of rows 0..T−1, four output rows at a time, the
// value columns in blocks of three, two or one 16-lane vectors (each block width a constant, so
// that every call is specialized after inlining). The blocks follow dp = d rounded up to 8, as
// w = d or dp need the same number of 16-lane vectors.
#define MIX_BLOCK(nv) (transposed ? mixTransposedBlock(a, o, t, tp, t0, c, nv, scaled) \
                              : mixBlock(a, o, t, tp, t0, c, nv, scaled))
MESA_AVX512 MESA_INLINE void mixRows(const float *a, MixOperands o, long t, long d, const int transposed,
                                     const int scaled) {
    const long dp = ru8(d), tp = ru8(t);
    for (long t0 = 0; t0 < t; t0 += 4) {
        drip(6);
        long c = 0;
        for (; dp - c > 32; c += 48) MIX_BLOCK(3);
        if (dp - c > 16) MIX_BLOCK(2);
        else if (dp - c > 0) MIX_BLOCK(1);
    }
}
#undef MIX_BLOCK

MESA_AVX512 void mesa512_causal_mix(const float *a, const float *v, long t, long d, float *out) {
    const long dp = ru8(d);
    mixRows(a, (MixOperands){v, dp, out, dp, dp, _mm512_set1_ps(1)}, t, d, 0, 0);
}

MESA_AVX512 void mesa512_causal_mix_transposed(const float *a, const float *g, long t, long d, float *out) {
    const long dp = ru8(d);
    mixRows(a, (MixOperands){g, dp, out, dp, dp, _mm512_set1_ps(1)}, t, d, 1, 0);
}

MESA_AVX512 void mesa512_causal_mix_strided(const float *a, const float *v, long vStride, long t, long d, float scale,
                                            float *out, long outStride) {
    mixRows(a, (MixOperands){v, vStride, out, outStride, d, _mm512_set1_ps(scale)}, t, d, 0, 1);
}

MESA_AVX512 void mesa512_causal_mix_transposed_strided(const float *a, const float *g, long gStride, long t, long d,
                                                       float scale, float *out, long outStride) {
    mixRows(a, (MixOperands){g, gStride, out, outStride, d, _mm512_set1_ps(scale)}, t, d, 1, 1);
}

// ---------------------------------------------------------------------------------------------
// Softmax rows. `fastExp(Float)` of MesaTensor's FastMath.swift, for the inputs a softmax row
// gives it: x − max ≤ 0, or NaN. fastExp, operation for operation (Swift's max(x, c) is
// c >= x ? c : x, which is MAXPS(c, x); min(x, c) is c < x ? c : x, MINPS(c, x)), is
//   c = min(hi, max(lo, x)), n = round(c · log₂e), r = (c − n·C₁) − n·C₂,
//   p = the degree-5 polynomial in r (multiply, then add), e = ((p·r)·r + r) + 1,
//   y = e · 2ⁿ (2ⁿ built from its exponent bits), 0 where x < lo, ∞ where x > hi.
// For x ≤ 0 or NaN four steps are shorter with the same results (checked on every such Float,
// 2 155 872 256 inputs, by scripts/softmax-exp-check.sh): min(hi, ·) changes nothing and x > hi
// never holds; n as an integer rounded to nearest even (CVTPS2DQ) and back is the ROUNDSCALE
// result (|c · log₂e| < 127), and the integer's bits are what CVTTPS2DQ gave; and with
// −126 ≤ n ≤ 0 the power of two is a normal Float, so SCALEFPS(e, n) is the one rounding of e · 2ⁿ
// that the multiplication did. 25 operations instead of 31: 17% less time per vector.
// `live` lanes only (the others 0).

MESA_AVX512 MESA_INLINE __m512 expNonPositive16(__mmask16 live, __m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    const __m512 c = _mm512_max_ps(lo, x);
    const __m512 n = _mm512_cvtepi32_ps(_mm512_cvtps_epi32(_mm512_mul_ps(c, _mm512_set1_ps(1.442695041f))));
    __m512 r = _mm512_sub_ps(c, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    const __m512 e = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    const __mmask16 notBelow = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
    return _mm512_maskz_mov_ps(live & notBelow, _mm512_scalef_ps(e, n));
}

/// The Swift SIMD8 `sum()`: -0 + lane 0 + lane 1 + … in order.
MESA_AVX512 MESA_INLINE float sum8(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    float s = -0.0f;
    for (int k = 0; k < 8; k++) s += l[k];
    return s;
}

/// The 8×8 transpose of v[0…7] (rows) in place: afterwards v[j] lane k is the old v[k] lane j.
MESA_AVX512 MESA_INLINE void transpose8(__m256 v[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(u0, u4, 0x20); v[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    v[2] = _mm256_permute2f128_ps(u2, u6, 0x20); v[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    v[4] = _mm256_permute2f128_ps(u0, u4, 0x31); v[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    v[6] = _mm256_permute2f128_ps(u2, u6, 0x31); v[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// The Swift SIMD8 `sum()` (-0 + lane 0 + lane 1 + … + lane 7, in order) of eight vectors at once:
/// lane k of the result is v[k].sum(), the same additions in the same order, one vector chain
/// instead of eight scalar ones.
MESA_AVX512 MESA_INLINE __m256 sum8x8(__m256 v[8]) {
    transpose8(v);
    __m256 s = _mm256_add_ps(_mm256_set1_ps(-0.0f), v[0]);
    for (int j = 1; j < 8; j++) s = _mm256_add_ps(s, v[j]);
    return s;
}

/// The rows work in groups of 8 aligned rows i0 … i0 + 7 (i0 a multiple of 8; the last group may
/// be short): all of them cover the same ru8(i + 1) = i0 + 8 columns, so each row's lane sums are
/// the same additions over the same chunks as one row at a time, and the eight per-row horizontal
/// sums (and maxima, and the divisions) become one vector chain each. The maximum: per row
/// max(x, m) = x > m ? x : m over the live elements (the partial last chunk masked in as -∞), so
/// NaNs are skipped as before and the maximum is the same value; only the sign of a zero maximum
/// may differ from the row-at-a-time order, and x − (±0) differs only for x = -0, where exp gives 1
/// either way: the same bits downstream.
MESA_AVX512 void mesa512_causal_softmax_rows(float *a, long t) {
    const long tp = ru8(t);
    for (long i0 = 0; i0 < t; i0 += 8) {
        drip(8);
        const long rows = lmin(8, t - i0), covered = i0 + 8;
        float *base = a + i0 * tp;
        // Each row's lane maxima, r > m ? r : m, chunk by chunk across the group's rows: eight
        // independent chains side by side rather than one row's chain after another.
        __m256 v[8];
        for (int k = 0; k < 8; k++) v[k] = _mm256_set1_ps(-INFINITY);
        for (long c = 0; c < i0; c += 8)
            for (int k = 0; k < 8; k++)
                if (k < rows) v[k] = _mm256_max_ps(_mm256_loadu_ps(base + k * tp + c), v[k]);
        for (int k = 0; k < 8; k++)
            if (k < rows)
                v[k] = _mm256_max_ps(_mm256_mask_loadu_ps(_mm256_set1_ps(-INFINITY), (__mmask8)lanes(k + 1), base + k * tp + i0), v[k]);
        transpose8(v);
        __m256 m = _mm256_set1_ps(-INFINITY);
        for (int j = 0; j < 8; j++) m = _mm256_max_ps(v[j], m);
        float ms[8];
        _mm256_storeu_ps(ms, m);
        // The exps chunk by chunk across the group's rows (chunk c of every row, then c + 16): the
        // rows' exps are independent chains the core can overlap, and each row's sum still takes
        // its chunks in order, so the bits are those of one row at a time.
        for (long k = 0; k < 8; k++) v[k] = _mm256_setzero_ps();
        for (long c = 0; c < covered; c += 16) {
            const __mmask16 mk = lanes(covered - c);
            const int upper = c + 8 < covered;
            for (long k = 0; k < rows; k++) {
                float *row = base + k * tp;
                const __m512 e = expNonPositive16(lanes(i0 + k + 1 - c),
                                                  _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, row + c), _mm512_set1_ps(ms[k])));
                _mm512_mask_storeu_ps(row + c, mk, e);
                v[k] = _mm256_add_ps(v[k], _mm512_castps512_ps256(e));
                if (upper) v[k] = _mm256_add_ps(v[k], _mm512_extractf32x8_ps(e, 1));
            }
        }
        // The zeros past the covered columns: masked stores (a plain loop became a memset call per row).
        for (long k = 0; k < rows; k++)
            for (long c = covered; c < tp; c += 16) _mm512_mask_storeu_ps(base + k * tp + c, lanes(tp - c), _mm512_setzero_ps());
        float inv[8];
        _mm256_storeu_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), sum8x8(v)));
        for (long k = 0; k < rows; k++) {
            float *row = base + k * tp;
            const __m512 vi = _mm512_set1_ps(inv[k]);
            for (long c = 0; c < covered; c += 16) {
                const __mmask16 mk = lanes(covered - c);
                _mm512_mask_storeu_ps(row + c, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, row + c), vi));
            }
        }
    }
}

/// Row at a time: grouping these rows as the forward does measured no faster (this kernel waits
/// on its loads, not on the horizontal sum).
MESA_AVX512 void mesa512_causal_softmax_backward_rows(const float *a, float *dA, long t) {
    const long tp = ru8(t);
    for (long i = 0; i < t; i++) {
        drip(2);
        const float *ar = a + i * tp;
        float *dr = dA + i * tp;
        const long covered = ru8(i + 1);
        __m256 rv = _mm256_setzero_ps();
        for (long c = 0; c < covered; c += 8)
            rv = _mm256_add_ps(rv, _mm256_mul_ps(_mm256_loadu_ps(ar + c), _mm256_loadu_ps(dr + c)));
        const __m512 r = _mm512_set1_ps(sum8(rv));
        for (long c = 0; c < covered; c += 16) {
            const __mmask16 mk = lanes(covered - c);
            const __m512 d = _mm512_maskz_loadu_ps(mk, dr + c);
            _mm512_mask_storeu_ps(dr + c, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, ar + c), _mm512_sub_ps(d, r)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The head panels' gathers and scatters (copies, and a multiplication by `scale` as the Swift
// kernels do): masked loads and stores instead of element-by-element tails, and in-register
// 16×16 transposes (gathers at the edges) for the transposed panel instead of one scalar load and
// store per element.

/// dst[r][i] = src[r·stride + i] for i < d, zero for d ≤ i < dp.
MESA_AVX512 void mesa512_gather_rows(const float *src, long stride, long t, long d, float *dst) {
    const long dp = ru8(d);
    for (long r = 0; r < t; r++)
        for (long c = 0; c < dp; c += 16)
            _mm512_mask_storeu_ps(dst + r * dp + c, lanes(dp - c), _mm512_maskz_loadu_ps(lanes(d - c), src + r * stride + c));
}

/// Transposes the 16×16 block m in registers: afterwards m[c] holds what was column c
/// (lane r = old m[r][c]). Unpacks pair rows within 128-bit lanes (then u[4g + j] holds, in
/// lane k, rows 4g…4g+3 of column 4k + j), and two rounds of 128-bit-lane shuffles transpose
/// the 4×4 grid of lanes. 64 shuffles for 256 elements.
MESA_AVX512 MESA_INLINE void transpose16(__m512 m[16]) {
    __m512 t[16], u[16];
    for (int p = 0; p < 8; p++) {
        t[2 * p] = _mm512_unpacklo_ps(m[2 * p], m[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_ps(m[2 * p], m[2 * p + 1]);
    }
    for (int g = 0; g < 4; g++) {  // u[4g + j]: rows 4g…4g+3 of column 4k + j in lane k
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {  // the 4×4 grid of 128-bit lanes of u[j], u[4 + j], u[8 + j], u[12 + j]
        const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        m[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        m[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        m[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        m[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

/// dst[i][r] = src[r·stride + i], zero for T ≤ r < tp. Whole blocks of 16 rows × 16 columns
/// (r0 + 16 ≤ T, c0 + 16 ≤ d): sixteen loads, a transpose in registers, sixteen stores. The
/// edges (the last columns when 16 ∤ d, the last rows when 16 ∤ T, the zero padding up to tp):
/// one masked gather per column as before — only rows < T and columns < d are read. (Masked
/// loads of full-block width over the edges were slower: masked-off lanes past a buffer's end
/// cost an assist.)
MESA_AVX512 void mesa512_gather_transposed(const float *src, long stride, long t, long d, float *dst) {
    const long tp = ru8(t);
    if (stride > 0x7FFFFFFF / 16) {  // row offsets past 32-bit gather indices: plain copies
        for (long i = 0; i < d; i++) {
            for (long r = 0; r < t; r++) dst[i * tp + r] = src[r * stride + i];
            for (long r = t; r < tp; r++) dst[i * tp + r] = 0;
        }
        return;
    }
    const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32((int)stride));
    const long dFull = d / 16 * 16;
    for (long r0 = 0; r0 < tp; r0 += 16) {
        drip(8);
        const __mmask16 rows = lanes(t - r0), inPanel = lanes(tp - r0);
        const float *base = src + r0 * stride;
        long i = 0;
        if (r0 + 16 <= t)
            for (; i < dFull; i += 16) {
                __m512 m[16];
                for (int r = 0; r < 16; r++) m[r] = _mm512_loadu_ps(base + r * stride + i);
                transpose16(m);
                for (int c = 0; c < 16; c++) _mm512_storeu_ps(dst + (i + c) * tp + r0, m[c]);
            }
        for (; i < d; i++) {
            const __m512 col = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, offsets, base + i, 4);
            _mm512_mask_storeu_ps(dst + i * tp + r0, inPanel, col);
        }
    }
}

/// dst[r·stride + i] = src[r][i] · scale for i < d.
MESA_AVX512 void mesa512_scatter_rows(const float *src, long t, long d, float scale, float *dst, long stride) {
    const long dp = ru8(d);
    const __m512 vs = _mm512_set1_ps(scale);
    for (long r = 0; r < t; r++)
        for (long c = 0; c < d; c += 16) {
            const __mmask16 m = lanes(d - c);
            _mm512_mask_storeu_ps(dst + r * stride + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + r * dp + c), vs));
        }
}

#else  // not x86-64: the portable Swift kernels always run.

int mesa_cpu_has_avx512(void) { return 0; }
void mesa_prefetch_soon(const void *p, long bytes) {}
long mesa_prefetch_soon_pending(void) { return 0; }
void mesa_prefetch_soon_clear(void) {}
void mesa512_causal_scores(const float *x, const float *yT, long t, long d, float scale, float *out) {}
void mesa512_causal_mix(const float *a, const float *v, long t, long d, float *out) {}
void mesa512_causal_mix_transposed(const float *a, const float *g, long t, long d, float *out) {}
void mesa512_causal_scores_strided(const float *x, long xStride, const float *yT, long t, long d, float scale,
                                   float *out) {}
void mesa512_causal_mix_strided(const float *a, const float *v, long vStride, long t, long d, float scale, float *out,
                                long outStride) {}
void mesa512_causal_mix_transposed_strided(const float *a, const float *g, long gStride, long t, long d, float scale,
                                           float *out, long outStride) {}
void mesa512_causal_softmax_rows(float *a, long t) {}
void mesa512_causal_softmax_backward_rows(const float *a, float *dA, long t) {}
void mesa512_gather_rows(const float *src, long stride, long t, long d, float *dst) {}
void mesa512_gather_transposed(const float *src, long stride, long t, long d, float *dst) {}
void mesa512_scatter_rows(const float *src, long t, long d, float scale, float *dst, long stride) {}

#endif
