// The LDS batch (MesaTasks' LinearDynamicalSystem+Batch.swift) eight sequences at a time in
// the eight Double lanes of AVX-512 registers: lane l is sequence b0 + l, and every lane does
// exactly the scalar reference's floating-point operations in the reference's order (the
// Householder QR of its teacher, the recurrence, the rounding to Float32), so the bytes are
// those of `LinearDynamicalSystem.sequence`. Branches of the reference ("skip this reflection
// when the norm is 0") become lane masks: every lane computes, and only lanes that take the
// branch keep the result. The vectorized normal sampler (`VectorNormals`: Philox blocks, fdlibm
// log, sin and cos in turns) runs here too, again the same operations as its Swift scalar
// definition lane by lane. IEEE add, multiply, divide and square root only, and no contraction
// of a multiply and an add into an FMA (the Swift code has none):
#pragma clang fp contract(off)

#include "CSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_INLINE static inline __attribute__((always_inline))

long mesa_lds_work_doubles(long n, long count) {
    // g/r [n²][8], qT [n²][8], v [n][8], acc [n][8], states [count·n + 8][8], noise [(count−1)·n][8]
    return 8 * (2 * n * n + 2 * n + count * n + 8 + (count - 1) * n) + 64;
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10, lane l computing block (x0, x1, x2, x3)[l]: the words of `philox4x32` in the
// low 32 bits of 64-bit lanes. `ks` is the key schedule (keySchedule): round r xors in
// ks[2r] and ks[2r + 1], read straight from memory as a broadcast operand. The lanes' upper
// halves are not cleared between rounds (vpmuludq reads only the lower 32 bits, and the upper
// halves never reach a lower one); the four output words are masked once at the end.

static void keySchedule(uint32_t k0, uint32_t k1, uint64_t ks[20]) {
    for (int r = 0; r < 10; r++) {
        ks[2 * r] = k0;
        ks[2 * r + 1] = k1;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

MESA_AVX512 MESA_INLINE void philox8(__m512i x[4], const uint64_t *ks) {
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFFll);
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53ll), m1 = _mm512_set1_epi64(0xCD9E8D57ll);
    __m512i x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
#pragma clang loop unroll(full)
    for (int round = 0; round < 10; round++) {
        const __m512i p0 = _mm512_mul_epu32(m0, x0), p1 = _mm512_mul_epu32(m1, x2);
        x0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1, _mm512_set1_epi64((long long)ks[2 * round]), 0x96);
        x1 = p1;
        x2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3, _mm512_set1_epi64((long long)ks[2 * round + 1]), 0x96);
        x3 = p0;
    }
    x[0] = _mm512_and_si512(x0, low); x[1] = _mm512_and_si512(x1, low);
    x[2] = _mm512_and_si512(x2, low); x[3] = _mm512_and_si512(x3, low);
}

/// `philox4x32x8`: blocks first … first + 7 of the stream (counter, key), block l's four words to
/// out[4l ..< 4l + 4].
MESA_AVX512 void mesa512_philox_words(uint32_t first, const uint32_t *counter, const uint32_t *key, uint32_t *out) {
    uint64_t ks[20];
    keySchedule(key[0], key[1], ks);
    __m512i w[4] = {
        _mm512_and_si512(_mm512_add_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(first)),
                         _mm512_set1_epi64(0xFFFFFFFFll)),
        _mm512_set1_epi64(counter[1]), _mm512_set1_epi64(counter[2]), _mm512_set1_epi64(counter[3])};
    philox8(w, ks);
    // 64-bit lane l of w01 holds words 0, 1 of block l, of w23 words 2, 3.
    const __m512i w01 = _mm512_or_si512(w[0], _mm512_slli_epi64(w[1], 32));
    const __m512i w23 = _mm512_or_si512(w[2], _mm512_slli_epi64(w[3], 32));
    _mm512_storeu_si512(out, _mm512_permutex2var_epi64(w01, _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), w23));
    _mm512_storeu_si512(out + 16, _mm512_permutex2var_epi64(w01, _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4), w23));
}

/// (hi << 32 | lo) >> 11 as a Double (exact: below 2⁵³).
MESA_AVX512 MESA_INLINE __m512d top53(__m512i hi, __m512i lo) {
    return _mm512_cvtepu64_pd(_mm512_srli_epi64(_mm512_or_si512(_mm512_slli_epi64(hi, 32), lo), 11));
}

#define V(x) _mm512_set1_pd(x)
#define ADD _mm512_add_pd
#define SUB _mm512_sub_pd
#define MUL _mm512_mul_pd

/// VectorNormals.log (fdlibm's), lane by lane.
MESA_AVX512 MESA_INLINE __m512d vlog(__m512d x) {
    const __m512i b = _mm512_castpd_si512(x);
    __m512d m = _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi64(0x000FFFFFFFFFFFFFll)),
                                                    _mm512_set1_epi64(0x3FF0000000000000ll)));
    __m512d k = SUB(_mm512_cvtepi64_pd(_mm512_srli_epi64(b, 52)), V(1023.0));
    const __mmask8 big = _mm512_cmp_pd_mask(m, V(1.4142135623730951), _CMP_GT_OQ);
    m = _mm512_mask_mov_pd(m, big, MUL(m, V(0.5)));
    k = _mm512_mask_mov_pd(k, big, ADD(k, V(1.0)));
    const __m512d f = SUB(m, V(1.0));
    const __m512d s = _mm512_div_pd(f, ADD(V(2.0), f));
    const __m512d z = MUL(s, s), w = MUL(z, z);
    // z (lg1 + w (lg3 + w (lg5 + w lg7))) + w (lg2 + w (lg4 + w lg6))
    __m512d odd = MUL(w, V(1.479819860511658591e-01));
    odd = MUL(w, ADD(V(1.818357216161805012e-01), odd));
    odd = MUL(w, ADD(V(2.857142874366239149e-01), odd));
    odd = MUL(z, ADD(V(6.666666666666735130e-01), odd));
    __m512d even = MUL(w, V(1.531383769920937332e-01));
    even = MUL(w, ADD(V(2.222219843214978396e-01), even));
    even = MUL(w, ADD(V(3.999999999940941908e-01), even));
    const __m512d r = ADD(odd, even);
    const __m512d hfsq = MUL(MUL(V(0.5), f), f);
    const __m512d inner = ADD(MUL(s, ADD(hfsq, r)), MUL(k, V(1.90821492927058770002e-10)));
    return SUB(MUL(k, V(6.93147180369123816490e-01)), SUB(SUB(hfsq, inner), f));
}

/// philox8 of two sets of blocks, round by round (two independent chains for the scheduler).
MESA_AVX512 MESA_INLINE void philox8x2(__m512i x[4], __m512i y[4], const uint64_t *ks) {
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFFll);
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53ll), m1 = _mm512_set1_epi64(0xCD9E8D57ll);
    __m512i x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], y0 = y[0], y1 = y[1], y2 = y[2], y3 = y[3];
#pragma clang loop unroll(full)
    for (int round = 0; round < 10; round++) {
        const __m512i k0 = _mm512_set1_epi64((long long)ks[2 * round]), k1 = _mm512_set1_epi64((long long)ks[2 * round + 1]);
        const __m512i p0 = _mm512_mul_epu32(m0, x0), p1 = _mm512_mul_epu32(m1, x2);
        const __m512i q0 = _mm512_mul_epu32(m0, y0), q1 = _mm512_mul_epu32(m1, y2);
        x0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1, k0, 0x96);
        y0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(q1, 32), y1, k0, 0x96);
        x1 = p1; y1 = q1;
        x2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3, k1, 0x96);
        y2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(q0, 32), y3, k1, 0x96);
        x3 = p0; y3 = q0;
    }
    x[0] = _mm512_and_si512(x0, low); x[1] = _mm512_and_si512(x1, low);
    x[2] = _mm512_and_si512(x2, low); x[3] = _mm512_and_si512(x3, low);
    y[0] = _mm512_and_si512(y0, low); y[1] = _mm512_and_si512(y1, low);
    y[2] = _mm512_and_si512(y2, low); y[3] = _mm512_and_si512(y3, low);
}

/// VectorNormals.pair of eight blocks: z0 = r cos 2πu₂, z1 = r sin 2πu₂.
MESA_AVX512 MESA_INLINE void vpair(const __m512i w[4], __m512d *z0, __m512d *z1) {
    const __m512d u1 = MUL(_mm512_max_pd(top53(w[0], w[1]), V(0.5)), V(0x1p-53));
    const __m512d u2 = MUL(top53(w[2], w[3]), V(0x1p-53));
    const __m512d r = _mm512_sqrt_pd(MUL(V(-2.0), vlog(u1)));
    // sinCosTurns(u2)
    const __m512d t = MUL(V(4.0), u2);
    const __m512d shifted = ADD(t, V(0x1.8p52));
    const __m512i q = _mm512_and_si512(_mm512_castpd_si512(shifted), _mm512_set1_epi64(3));
    const __m512d x = MUL(SUB(t, SUB(shifted, V(0x1.8p52))), V(1.5707963267948966));
    const __m512d z = MUL(x, x), v = MUL(z, x);
    // sin: x + v (s1 + z (s2 + z (s3 + z (s4 + z (s5 + z s6)))))
    __m512d sr = MUL(z, V(1.58969099521155010221e-10));
    sr = MUL(z, ADD(V(-2.50507602534068634195e-08), sr));
    sr = MUL(z, ADD(V(2.75573137070700676789e-06), sr));
    sr = MUL(z, ADD(V(-1.98412698298579493134e-04), sr));
    sr = MUL(z, ADD(V(8.33333333332248946124e-03), sr));
    sr = ADD(V(-1.66666666666666324348e-01), sr);
    const __m512d sn = ADD(x, MUL(v, sr));
    // cos: w + (((1 − w) − hz) + z r), r = z (c1 + z (c2 + … + z c6))
    __m512d cr = MUL(z, V(-1.13596475577881948265e-11));
    cr = MUL(z, ADD(V(2.08757232129817482790e-09), cr));
    cr = MUL(z, ADD(V(-2.75573143513906633035e-07), cr));
    cr = MUL(z, ADD(V(2.48015872894767294178e-05), cr));
    cr = MUL(z, ADD(V(-1.38888888888741095749e-03), cr));
    cr = MUL(z, ADD(V(4.16666666666666019037e-02), cr));
    const __m512d hz = MUL(V(0.5), z);
    const __m512d ww = SUB(V(1.0), hz);
    const __m512d cs = ADD(ww, ADD(SUB(SUB(V(1.0), ww), hz), MUL(z, cr)));
    const __mmask8 odd = _mm512_test_epi64_mask(q, _mm512_set1_epi64(1));
    __m512d sine = _mm512_mask_mov_pd(sn, odd, cs), cosine = _mm512_mask_mov_pd(cs, odd, sn);
    const __m512i sbit = _mm512_slli_epi64(_mm512_and_si512(q, _mm512_set1_epi64(2)), 62);
    const __m512i cbit = _mm512_slli_epi64(_mm512_and_si512(_mm512_add_epi64(q, _mm512_set1_epi64(1)),
                                                            _mm512_set1_epi64(2)), 62);
    sine = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(sine), sbit));
    cosine = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(cosine), cbit));
    *z0 = MUL(r, cosine);
    *z1 = MUL(r, sine);
}

/// `VectorNormals.normals`: the `count` normals of blocks first, first + 1, … of the stream
/// (counter, key), block first + p giving out[2p], out[2p + 1].
MESA_AVX512 void mesa512_vector_normals(long count, uint32_t first, const uint32_t *counter, const uint32_t *key,
                                        double *out) {
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i interleaveLow = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const __m512i interleaveHigh = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    uint64_t ks[20];
    keySchedule(key[0], key[1], ks);
    uint32_t block = first;
    long i = 0;
    for (; i + 32 <= count; i += 32, block += 16) {
        __m512i w[4] = {
            _mm512_and_si512(_mm512_add_epi64(lane, _mm512_set1_epi64(block)), _mm512_set1_epi64(0xFFFFFFFFll)),
            _mm512_set1_epi64(counter[1]), _mm512_set1_epi64(counter[2]), _mm512_set1_epi64(counter[3])};
        __m512i x[4] = {
            _mm512_and_si512(_mm512_add_epi64(lane, _mm512_set1_epi64((uint32_t)(block + 8))), _mm512_set1_epi64(0xFFFFFFFFll)),
            w[1], w[2], w[3]};
        philox8x2(w, x, ks);
        __m512d z0, z1, z2, z3;
        vpair(w, &z0, &z1);
        vpair(x, &z2, &z3);
        _mm512_storeu_pd(out + i, _mm512_permutex2var_pd(z0, interleaveLow, z1));
        _mm512_storeu_pd(out + i + 8, _mm512_permutex2var_pd(z0, interleaveHigh, z1));
        _mm512_storeu_pd(out + i + 16, _mm512_permutex2var_pd(z2, interleaveLow, z3));
        _mm512_storeu_pd(out + i + 24, _mm512_permutex2var_pd(z2, interleaveHigh, z3));
    }
    for (; i < count; i += 16, block += 8) {
        __m512i w[4] = {
            _mm512_and_si512(_mm512_add_epi64(lane, _mm512_set1_epi64(block)), _mm512_set1_epi64(0xFFFFFFFFll)),
            _mm512_set1_epi64(counter[1]), _mm512_set1_epi64(counter[2]), _mm512_set1_epi64(counter[3])};
        philox8(w, ks);
        __m512d z0, z1;
        vpair(w, &z0, &z1);
        const __m512d lo = _mm512_permutex2var_pd(z0, interleaveLow, z1);
        const __m512d hi = _mm512_permutex2var_pd(z0, interleaveHigh, z1);
        const long left = count - i;
        if (left >= 16) {
            _mm512_storeu_pd(out + i, lo);
            _mm512_storeu_pd(out + i + 8, hi);
        } else {
            const __mmask8 m0 = left >= 8 ? 0xFF : (__mmask8)((1u << left) - 1);
            const __mmask8 m1 = left <= 8 ? 0 : (__mmask8)((1u << (left - 8)) - 1);
            _mm512_mask_storeu_pd(out + i, m0, lo);
            _mm512_mask_storeu_pd(out + i + 8, m1, hi);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sequences of one lane group. Layout: value k of every lane at [8k, 8k + 8).

/// One Householder reflection on columns c0..c0+cn−1 (cn ≤ 16) of m ([n][n] per lane, rows j…n−1):
/// s_c = scale · Σ_{i ≥ j} v_i m_ic summed over i in order, then m_ic −= s_c v_i; lanes outside
/// `active` keep their values. R and Qᵀ take the same steps (`householderQT`'s two loops).
MESA_AVX512 MESA_INLINE void reflectColumnsLanes(double *m, long n, long j, long c0, long cn, const double *v,
                                                 __m512d scale, __mmask8 active) {
    __m512d a[16];
    for (long c = 0; c < cn; c++) a[c] = _mm512_setzero_pd();
    for (long i = j; i < n; i++) {
        const __m512d vi = _mm512_loadu_pd(v + 8 * i);
        for (long c = 0; c < cn; c++) a[c] = ADD(a[c], MUL(vi, _mm512_loadu_pd(m + 8 * (i * n + c0 + c))));
    }
    for (long c = 0; c < cn; c++) a[c] = MUL(a[c], scale);
    for (long i = j; i < n; i++) {
        const __m512d vi = _mm512_loadu_pd(v + 8 * i);
        for (long c = 0; c < cn; c++) {
            double *p = m + 8 * (i * n + c0 + c);
            const __m512d x = _mm512_loadu_pd(p);
            _mm512_storeu_pd(p, _mm512_mask_mov_pd(x, active, SUB(x, MUL(a[c], vi))));
        }
    }
}

/// Qᵀ of the Householder QR of a (row-major [n][n] per lane, overwritten with R), bit for bit
/// `householderQT` (and `Linalg.qr`) in each lane.
MESA_AVX512 MESA_INLINE void householderQTLanes(long n, double *r, double *qT, double *v) {
    const __m512d zero = _mm512_setzero_pd(), one = V(1.0);
    const __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000ull);
    for (long i = 0; i < n; i++)
        for (long c = 0; c < n; c++) _mm512_storeu_pd(qT + 8 * (i * n + c), i == c ? one : zero);
#define R(i, c) (r + 8 * ((i) * n + (c)))
#define QT(i, c) (qT + 8 * ((i) * n + (c)))
    for (long j = 0; j < n; j++) {
        __m512d norm = zero;
        for (long i = j; i < n; i++) {
            const __m512d x = _mm512_loadu_pd(R(i, j));
            norm = ADD(norm, MUL(x, x));
        }
        norm = _mm512_sqrt_pd(norm);
        __mmask8 active = _mm512_cmp_pd_mask(norm, zero, _CMP_NEQ_UQ);  // Swift's `norm == 0` is false for NaN
        const __mmask8 positive = _mm512_cmp_pd_mask(_mm512_loadu_pd(R(j, j)), zero, _CMP_GT_OQ);
        const __m512d negNorm = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(norm), sign));
        const __m512d alpha = _mm512_mask_mov_pd(norm, positive, negNorm);
        for (long i = 0; i < n; i++) _mm512_storeu_pd(v + 8 * i, i < j ? zero : _mm512_loadu_pd(R(i, j)));
        _mm512_storeu_pd(v + 8 * j, SUB(_mm512_loadu_pd(v + 8 * j), alpha));
        __m512d vv = zero;
        for (long i = j; i < n; i++) {
            const __m512d x = _mm512_loadu_pd(v + 8 * i);
            vv = ADD(vv, MUL(x, x));
        }
        active &= _mm512_cmp_pd_mask(vv, zero, _CMP_NEQ_UQ);
        if (!active) continue;
        const __m512d scale = _mm512_div_pd(V(2.0), vv);
        // R ← (I − 2vvᵀ/vᵀv) R, then Q ← Q (I − 2vvᵀ/vᵀv) on Qᵀ: column c's sum over i in order,
        // columns in blocks of 16 held in registers (the columns are independent).
        for (long c0 = 0; c0 < n; c0 += 16) {
            const long cn = n - c0 < 16 ? n - c0 : 16;
            reflectColumnsLanes(r, n, j, c0, cn, v, scale, active);
            reflectColumnsLanes(qT, n, j, c0, cn, v, scale, active);
        }
    }
    for (long j = 0; j < n; j++) {
        const __mmask8 negative = _mm512_cmp_pd_mask(_mm512_loadu_pd(R(j, j)), zero, _CMP_LT_OQ);
        if (!negative) continue;
        for (long c = 0; c < n; c++) {
            _mm512_storeu_pd(R(j, c), _mm512_mask_xor_pd(_mm512_loadu_pd(R(j, c)), negative, _mm512_loadu_pd(R(j, c)),
                                                         _mm512_castsi512_pd(sign)));
            _mm512_storeu_pd(QT(j, c), _mm512_mask_xor_pd(_mm512_loadu_pd(QT(j, c)), negative, _mm512_loadu_pd(QT(j, c)),
                                                          _mm512_castsi512_pd(sign)));
        }
    }
#undef R
#undef QT
}

/// s_{t+1} = clip(σ z_t + W s_t), component i summed over j in order: x = σ z_ti, then
/// x = x + W_ij s_tj for j = 0, 1, …; clip as Swift's min(max(x, −c), c) (NaN stays NaN).
MESA_AVX512 MESA_INLINE void recurrenceLanes(long n, long count, double sigma, double clip, const double *wT,
                                        const double *z, double *s) {
    const __m512d vs = V(sigma), hi = V(clip), lo = V(-clip);
    for (long t = 1; t < count; t++) {
        const double *zt = z + 8 * (t - 1) * n, *prev = s + 8 * (t - 1) * n;
        double *next = s + 8 * t * n;
        long i = 0;
#define CLIPSTORE(k, x)                                                          \
    do {                                                                         \
        __m512d y = (x);                                                         \
        y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(y, lo, _CMP_LE_OQ), lo);    \
        y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(y, hi, _CMP_GT_OQ), hi);    \
        _mm512_storeu_pd(next + 8 * (k), y);                                     \
    } while (0)
        for (; i + 5 <= n; i += 5) {
            __m512d x0 = MUL(vs, _mm512_loadu_pd(zt + 8 * i)), x1 = MUL(vs, _mm512_loadu_pd(zt + 8 * (i + 1)));
            __m512d x2 = MUL(vs, _mm512_loadu_pd(zt + 8 * (i + 2))), x3 = MUL(vs, _mm512_loadu_pd(zt + 8 * (i + 3)));
            __m512d x4 = MUL(vs, _mm512_loadu_pd(zt + 8 * (i + 4)));
            for (long j = 0; j < n; j++) {
                const __m512d sj = _mm512_loadu_pd(prev + 8 * j);
                const double *w = wT + 8 * (j * n + i);
                x0 = ADD(x0, MUL(_mm512_loadu_pd(w), sj));
                x1 = ADD(x1, MUL(_mm512_loadu_pd(w + 8), sj));
                x2 = ADD(x2, MUL(_mm512_loadu_pd(w + 16), sj));
                x3 = ADD(x3, MUL(_mm512_loadu_pd(w + 24), sj));
                x4 = ADD(x4, MUL(_mm512_loadu_pd(w + 32), sj));
            }
            CLIPSTORE(i, x0); CLIPSTORE(i + 1, x1); CLIPSTORE(i + 2, x2); CLIPSTORE(i + 3, x3); CLIPSTORE(i + 4, x4);
        }
        for (; i < n; i++) {
            __m512d x0 = MUL(vs, _mm512_loadu_pd(zt + 8 * i));
            for (long j = 0; j < n; j++)
                x0 = ADD(x0, MUL(_mm512_loadu_pd(wT + 8 * (j * n + i)), _mm512_loadu_pd(prev + 8 * j)));
            CLIPSTORE(i, x0);
        }
#undef CLIPSTORE
    }
}

/// 8×8 transpose of Float32 rows: r[k] holds lanes 0…7 of value k; afterwards r[l] holds values
/// 0…7 of lane l.
MESA_AVX512 MESA_INLINE void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// Lane l's states s_0 … s_{count−1} (count·n values) to inputs[l·per + k] = s[k] (k < per) and
/// targets[l·per + k − n] = s[k] (k ≥ n), per = (count − 1)·n, for lanes < `lanes`.
MESA_AVX512 MESA_INLINE void storeLanes(long n, long count, const double *s, long lanes, void *inputs, void *targets,
                                   int float32) {
    const long per = (count - 1) * n, total = count * n;
    if (!float32) {
        double *in = inputs, *tg = targets;
        for (long l = 0; l < lanes; l++) {
            for (long k = 0; k < per; k++) in[l * per + k] = s[8 * k + l];
            for (long k = n; k < total; k++) tg[l * per + k - n] = s[8 * k + l];
        }
        return;
    }
    float *in = inputs, *tg = targets;
    for (long k0 = 0; k0 < total; k0 += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm512_cvtpd_ps(_mm512_loadu_pd(s + 8 * (k0 + k)));  // rows past total: padding
        transpose8(r);
        const long inLeft = per - k0, tgFirst = n - k0, tgLeft = total - k0;
        const __mmask8 inMask = inLeft <= 0 ? 0 : inLeft >= 8 ? 0xFF : (__mmask8)((1u << inLeft) - 1);
        __mmask8 tgMask = tgLeft >= 8 ? 0xFF : (__mmask8)((1u << tgLeft) - 1);
        if (tgFirst > 0) tgMask &= tgFirst >= 8 ? 0 : (__mmask8)(0xFFu << tgFirst);
        for (long l = 0; l < lanes; l++) {
            if (inMask) _mm256_mask_storeu_ps(in + l * per + k0, inMask, r[l]);
            if (tgMask) {
                // Targets start n values later: store from the first kept value on, so that no
                // address before the buffer is formed.
                if (tgFirst <= 0) {
                    _mm256_mask_storeu_ps(tg + l * per + k0 - n, tgMask, r[l]);
                } else {
                    const __m256i shift = _mm256_add_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32((int)tgFirst));
                    _mm256_mask_storeu_ps(tg + l * per, (__mmask8)(tgMask >> tgFirst), _mm256_permutexvar_ps(shift, r[l]));
                }
            }
        }
    }
}

/// The recurrence and stores of one lane group whose teacher (or Qᵀ) is in place.
MESA_AVX512 MESA_INLINE void finishLanesBody(long n, long count, double sigma, double clip, const double *sharedWT,
                                             double *work, long lanes, void *inputs, void *targets, int float32) {
    double *r = work, *qT = r + 8 * n * n, *v = qT + 8 * n * n, *acc = v + 8 * n, *s = acc + 8 * n;
    double *z = s + 8 * (count * n + 8);
    const double *wT = qT;
    if (sharedWT) {
        for (long k = 0; k < n * n; k++) _mm512_storeu_pd(qT + 8 * k, V(sharedWT[k]));
    } else {
        householderQTLanes(n, r, qT, v);
    }
    for (long k = count * n; k < count * n + 8; k++) _mm512_storeu_pd(s + 8 * k, _mm512_setzero_pd());
    recurrenceLanes(n, count, sigma, clip, wT, z, s);
    storeLanes(n, count, s, lanes, inputs, targets, float32);
}

/// finishLanesBody, compiled once for the presets' n = 10 (the loops over n unrolled, the QR's
/// accumulators in registers) and once for any n.
MESA_AVX512 static void finishLanes(long n, long count, double sigma, double clip, const double *sharedWT, double *work,
                                    long lanes, void *inputs, void *targets, int float32) {
    if (n == 10)
        finishLanesBody(10, count, sigma, clip, sharedWT, work, lanes, inputs, targets, float32);
    else
        finishLanesBody(n, count, sigma, clip, sharedWT, work, lanes, inputs, targets, float32);
}

/// Lanes ≥ `lanes` repeat lane 0's inputs (their results are never stored).
static inline long srcLane(long l, long lanes) { return l < lanes ? l : 0; }

MESA_AVX512 void mesa512_lds_lanes(long n, long count, double sigma, double clip, const double *teachers,
                                   const double *sharedWT, const double *initial, const double *noise, long lanes,
                                   void *inputs, void *targets, int float32, double *work) {
    double *r = work, *s = r + 8 * (2 * n * n + 2 * n), *z = s + 8 * (count * n + 8);
    const long nz = (count - 1) * n;
    for (long l = 0; l < 8; l++) {
        const long src = srcLane(l, lanes);
        if (!sharedWT)
            for (long k = 0; k < n * n; k++) r[8 * k + l] = teachers[src * n * n + k];
        for (long k = 0; k < n; k++) s[8 * k + l] = initial[src * n + k];
        for (long k = 0; k < nz; k++) z[8 * k + l] = noise[src * nz + k];
    }
    finishLanes(n, count, sigma, clip, sharedWT, work, lanes, inputs, targets, float32);
}

/// `count` normals of the vectorized sampler for the eight lanes' streams (counter (block,
/// index, step, purpose)) from block `first` on: value k of each lane (block first + k/2) to
/// out[8k, 8k + 8). Two blocks per iteration.
MESA_AVX512 MESA_INLINE void normalsLanes(long count, uint32_t first, __m512i index, __m512i vstep, __m512i vpurpose,
                                          const uint64_t *ks, double *out) {
    uint32_t block = first;
    long k = 0;
    for (; k + 4 <= count; k += 4, block += 2) {
        __m512i w[4] = {_mm512_set1_epi64(block), index, vstep, vpurpose};
        __m512i x[4] = {_mm512_set1_epi64((uint32_t)(block + 1)), index, vstep, vpurpose};
        philox8x2(w, x, ks);
        __m512d z0, z1, z2, z3;
        vpair(w, &z0, &z1);
        vpair(x, &z2, &z3);
        _mm512_storeu_pd(out + 8 * k, z0);
        _mm512_storeu_pd(out + 8 * (k + 1), z1);
        _mm512_storeu_pd(out + 8 * (k + 2), z2);
        _mm512_storeu_pd(out + 8 * (k + 3), z3);
    }
    for (; k < count; k += 2, block++) {
        __m512i w[4] = {_mm512_set1_epi64(block), index, vstep, vpurpose};
        philox8(w, ks);
        __m512d z0, z1;
        vpair(w, &z0, &z1);
        _mm512_storeu_pd(out + 8 * k, z0);
        if (k + 1 < count) _mm512_storeu_pd(out + 8 * (k + 1), z1);
    }
}

MESA_AVX512 void mesa512_lds_vectorized_lanes(long n, long count, double sigma, double clip, const double *sharedWT,
                                              const uint32_t *key, uint32_t step, uint32_t purpose, uint32_t firstIndex,
                                              long lanes, void *inputs, void *targets, int float32, double *work) {
    double *r = work, *s = r + 8 * (2 * n * n + 2 * n), *z = s + 8 * (count * n + 8);
    const long nz = (count - 1) * n;
    __m512i index = _mm512_add_epi64(_mm512_set1_epi64(firstIndex), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    if (lanes < 8) index = _mm512_mask_mov_epi64(index, (__mmask8)(0xFFu << lanes), _mm512_set1_epi64(firstIndex));
    index = _mm512_and_si512(index, _mm512_set1_epi64(0xFFFFFFFFll));
    const __m512i vstep = _mm512_set1_epi64(step), vpurpose = _mm512_set1_epi64(purpose);
    uint64_t ks[20];
    keySchedule(key[0], key[1], ks);
    uint32_t block = 0;
    // The teacher's n² normals: block p gives values 2p and 2p + 1.
    if (!sharedWT) {
        normalsLanes(n * n, block, index, vstep, vpurpose, ks, r);
        block += (uint32_t)((n * n + 1) / 2);
    }
    // s_1: n uniforms on [−1, 1), two per block (words 0-1 and 2-3).
    for (long k = 0; k < n; k += 2, block++) {
        __m512i w[4] = {_mm512_set1_epi64(block), index, vstep, vpurpose};
        philox8(w, ks);
        const __m512d u0 = MUL(top53(w[0], w[1]), V(0x1p-53)), u1 = MUL(top53(w[2], w[3]), V(0x1p-53));
        _mm512_storeu_pd(s + 8 * k, ADD(V(-1.0), MUL(V(2.0), u0)));
        if (k + 1 < n) _mm512_storeu_pd(s + 8 * (k + 1), ADD(V(-1.0), MUL(V(2.0), u1)));
    }
    // The noise's n·(count − 1) normals, from the next whole block.
    normalsLanes(nz, block, index, vstep, vpurpose, ks, z);
    finishLanes(n, count, sigma, clip, sharedWT, work, lanes, inputs, targets, float32);
}

#else

long mesa_lds_work_doubles(long n, long count) { (void)n; (void)count; return 0; }
void mesa512_philox_words(uint32_t first, const uint32_t *counter, const uint32_t *key, uint32_t *out) {
    (void)first; (void)counter; (void)key; (void)out;
}
void mesa512_vector_normals(long count, uint32_t first, const uint32_t *counter, const uint32_t *key, double *out) {
    (void)count; (void)first; (void)counter; (void)key; (void)out;
}
void mesa512_lds_lanes(long n, long count, double sigma, double clip, const double *teachers, const double *sharedWT,
                       const double *initial, const double *noise, long lanes, void *inputs, void *targets, int float32,
                       double *work) {
    (void)n; (void)count; (void)sigma; (void)clip; (void)teachers; (void)sharedWT; (void)initial; (void)noise;
    (void)lanes; (void)inputs; (void)targets; (void)float32; (void)work;
}
void mesa512_lds_vectorized_lanes(long n, long count, double sigma, double clip, const double *sharedWT,
                                  const uint32_t *key, uint32_t step, uint32_t purpose, uint32_t firstIndex, long lanes,
                                  void *inputs, void *targets, int float32, double *work) {
    (void)n; (void)count; (void)sigma; (void)clip; (void)sharedWT; (void)key; (void)step; (void)purpose;
    (void)firstIndex; (void)lanes; (void)inputs; (void)targets; (void)float32; (void)work;
}

#endif
