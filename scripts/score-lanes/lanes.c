// A prototype, not in the build (BENCHMARKS.md, "Stop 21"): the score core's forward for up to 16
// (sequence, head) pairs at once, pair p in lane p of every vector, so that each pair does exactly
// what scorecore512.c's kernels do for it, in the same order (the same bits), with no lane wasted on
// the causal triangle's padding and no horizontal sums. Q, K and V rows are transposed into lanes
// ([t][d][16]) first and the output rows transposed back. Rows in blocks of four: scores 4 rows × 6
// columns per block, softmax row by row (eight partial sums, as the 8-lane sums of the per-head
// kernel), mix 4 rows × 5 value columns per block.
//
// scorecore512.c itself is compiled into this file: its exp (expNonPositive16), its 16 × 16 transpose
// (transpose16) and lane masks (lanes) are the ones used here, and its per-head kernels are what the
// harness compares with.
#include "../../Sources/CSupport/scorecore512.c"
#include <x86intrin.h>
#ifdef LANES_TIMING
unsigned long long sec[6];
#define TICK(i) do { unsigned long long _n = __rdtsc(); sec[i] += _n - _t; _t = _n; } while (0)
#define TICK0 unsigned long long _t = __rdtsc()
#else
#define TICK(i)
#define TICK0
#endif

// The 4×4 grid of 128-bit blocks of y[0..3] transposed: afterwards y[c] block m = old y[m] block c.
MESA_AVX512 MESA_INLINE void blocks4(__m512 y[4]) {
    const __m512 t0 = _mm512_shuffle_f32x4(y[0], y[1], 0x44), t1 = _mm512_shuffle_f32x4(y[0], y[1], 0xEE);
    const __m512 t2 = _mm512_shuffle_f32x4(y[2], y[3], 0x44), t3 = _mm512_shuffle_f32x4(y[2], y[3], 0xEE);
    y[0] = _mm512_shuffle_f32x4(t0, t2, 0x88); y[1] = _mm512_shuffle_f32x4(t0, t2, 0xDD);
    y[2] = _mm512_shuffle_f32x4(t1, t3, 0x88); y[3] = _mm512_shuffle_f32x4(t1, t3, 0xDD);
}

// dst[c][p] = src_p[c] for c < d; the last ≤ 4 columns gathered four pairs per vector.
MESA_AVX512 MESA_INLINE void loadLanes(const float *const src[16], long d, float *dst) {
    long c0 = 0;
    for (; d - c0 > 4; c0 += 16) {
        __m512 m[16];
        const __mmask16 k = lanes(d - c0);
        for (int p = 0; p < 16; p++) m[p] = _mm512_maskz_loadu_ps(k, src[p] + c0);
        transpose16(m);
        for (long c = 0; c < 16 && c0 + c < d; c++) _mm512_store_ps(dst + (c0 + c) * 16, m[c]);
    }
    if (c0 < d) {
        const long w = d - c0;
        const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        __m512 y[4];
        for (int m = 0; m < 4; m++) {
            __m512 x = _mm512_setzero_ps();
            for (int j = 0; j < 4; j++) x = _mm512_mask_loadu_ps(x, (__mmask16)(lanes(w) << (4 * j)), src[4 * m + j] + c0 - 4 * j);
            y[m] = _mm512_permutexvar_ps(idx, x);
        }
        blocks4(y);
        for (long c = 0; c < w; c++) _mm512_store_ps(dst + (c0 + c) * 16, y[c]);
    }
}

MESA_AVX512 MESA_INLINE void storeLanes(const float *src, long d, int pairs, float *const dst[16]) {
    long c0 = 0;
    for (; d - c0 > 4; c0 += 16) {
        __m512 m[16];
        const __mmask16 k = lanes(d - c0);
        for (int c = 0; c < 16; c++) m[c] = c0 + c < d ? _mm512_load_ps(src + (c0 + c) * 16) : _mm512_setzero_ps();
        transpose16(m);
        for (int p = 0; p < pairs; p++) _mm512_mask_storeu_ps(dst[p] + c0, k, m[p]);
    }
    if (c0 < d) {
        const long w = d - c0;
        const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        __m512 y[4];
        for (int c = 0; c < 4; c++) y[c] = c < w ? _mm512_load_ps(src + (c0 + c) * 16) : _mm512_setzero_ps();
        blocks4(y);
        for (int m = 0; m < 4; m++) {
            const __m512 x = _mm512_permutexvar_ps(idx, y[m]);
            for (int j = 0; j < 4; j++)
                if (4 * m + j < pairs) _mm512_mask_storeu_ps(dst[4 * m + j] + c0 - 4 * j, (__mmask16)(lanes(w) << (4 * j)), x);
        }
    }
}

// Scores of rows r0..r0+3 (row index clamped to last) against columns s0..s0+NJ-1 (clamped to lastCol), lanes.
MESA_AVX512 MESA_INLINE void laneScoreBlock(const float *Q, const float *K, long dk, long r0, long last, long s0, long lastCol,
                                        const int NJ, __m512 acc[4][6]) {
    const float *q[4], *k[6];
    for (int i = 0; i < 4; i++) { long r = r0 + i; if (r > last) r = last; q[i] = Q + r * dk * 16; }
    for (int j = 0; j < NJ; j++) { long s = s0 + j; if (s > lastCol) s = lastCol; k[j] = K + s * dk * 16; }
    for (int i = 0; i < 4; i++) for (int j = 0; j < NJ; j++) acc[i][j] = _mm512_setzero_ps();
    for (long x = 0; x < dk; x++) {
        __m512 kv[6];
        for (int j = 0; j < NJ; j++) kv[j] = _mm512_load_ps(k[j] + x * 16);
        for (int i = 0; i < 4; i++) {
            const __m512 qi = _mm512_load_ps(q[i] + x * 16);
            for (int j = 0; j < NJ; j++) acc[i][j] = _mm512_fmadd_ps(qi, kv[j], acc[i][j]);
        }
    }
}

// out rows r0..r0+3: o[i][c] = Σ_{s < end} A_i[s] V[s][c0 + c] (A_i[s] = 0 past row r0 + i), NC columns.
MESA_AVX512 MESA_INLINE void laneMixBlockN(float *const A[4], long r0, long end, const float *V, long dv, long c0,
                                       const int NC, __m512 o[4][6]) {
    __m512 acc[4][6];
    for (int i = 0; i < 4; i++) for (int j = 0; j < NC; j++) acc[i][j] = _mm512_setzero_ps();
    const float *v = V + c0 * 16;
    long s = 0;
    for (; s <= r0; s++, v += dv * 16) {
        __m512 vv[6];
        for (int j = 0; j < NC; j++) vv[j] = _mm512_load_ps(v + j * 16);
        for (int i = 0; i < 4; i++) {
            const __m512 a = _mm512_load_ps(A[i] + s * 16);
            for (int j = 0; j < NC; j++) acc[i][j] = _mm512_fmadd_ps(a, vv[j], acc[i][j]);
        }
    }
    for (; s < end; s++, v += dv * 16) {
        __m512 vv[6];
        for (int j = 0; j < NC; j++) vv[j] = _mm512_load_ps(v + j * 16);
        for (int i = 0; i < 4; i++) {
            const __m512 a = s <= r0 + i ? _mm512_load_ps(A[i] + s * 16) : _mm512_setzero_ps();
            for (int j = 0; j < NC; j++) acc[i][j] = _mm512_fmadd_ps(a, vv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < 4; i++) for (int j = 0; j < NC; j++) o[i][j] = acc[i][j];
}

MESA_AVX512 MESA_INLINE void laneMixBlock(float *const A[4], long r0, long end, const float *V, long dv, long c0, int nc,
                                      __m512 o[4][6]) {
    switch (nc) {
    case 5: laneMixBlockN(A, r0, end, V, dv, c0, 5, o); break;
    case 4: laneMixBlockN(A, r0, end, V, dv, c0, 4, o); break;
    case 3: laneMixBlockN(A, r0, end, V, dv, c0, 3, o); break;
    case 2: laneMixBlockN(A, r0, end, V, dv, c0, 2, o); break;
    default: laneMixBlockN(A, r0, end, V, dv, c0, 1, o); break;
    }
}

MESA_AVX512 MESA_INLINE void laneSoftmaxRow(float *A, long r, __m512 m) {
    __m512 P[8];
    for (int l = 0; l < 8; l++) P[l] = _mm512_setzero_ps();
    long s = 0;
    for (; s + 8 <= r + 1; s += 8)
        for (int l = 0; l < 8; l++) {
            const __m512 e = expNonPositive16(0xFFFF, _mm512_sub_ps(_mm512_load_ps(A + (s + l) * 16), m));
            _mm512_store_ps(A + (s + l) * 16, e);
            P[l] = _mm512_add_ps(P[l], e);
        }
    for (int l = 0; s + l <= r; l++) {
        const __m512 e = expNonPositive16(0xFFFF, _mm512_sub_ps(_mm512_load_ps(A + (s + l) * 16), m));
        _mm512_store_ps(A + (s + l) * 16, e);
        P[l] = _mm512_add_ps(P[l], e);
    }
    __m512 tot = _mm512_add_ps(_mm512_set1_ps(-0.0f), P[0]);
    for (int l = 1; l < 8; l++) tot = _mm512_add_ps(tot, P[l]);
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), tot);
    for (s = 0; s <= r; s++) _mm512_store_ps(A + s * 16, _mm512_mul_ps(_mm512_load_ps(A + s * 16), inv));
}

long lanes_scratch(long t, long dk, long dv) { return 16 * (2 * t * dk + t * dv + 4 * t + 4 * dv + 16); }

MESA_AVX512 void lanes_forward(const float *rows, const long *off, int pairs, long qkStride, long vStride,
                               float *out, long outStride, long t, long dk, long dv, float scale, int softmax,
                               float *keep, float *scratch) {
    float *Ql = scratch, *Kl = Ql + t * dk * 16, *Vl = Kl + t * dk * 16, *row = Vl + t * dv * 16, *ol = row + 4 * t * 16;
    const float *q[16], *k[16], *v[16];
    float *o[16];
    for (int p = 0; p < 16; p++) {
        const int pp = p < pairs ? p : pairs - 1;
        q[p] = rows + off[pp]; k[p] = rows + off[16 + pp]; v[p] = rows + off[32 + pp]; o[p] = out + off[48 + pp];
    }
    TICK0;
    for (long r = 0; r < t; r++) {
        loadLanes(q, dk, Ql + r * dk * 16); loadLanes(k, dk, Kl + r * dk * 16); loadLanes(v, dv, Vl + r * dv * 16);
        for (int p = 0; p < 16; p++) { q[p] += qkStride; k[p] += qkStride; v[p] += vStride; }
    }
    TICK(0);
    const __m512 vs = _mm512_set1_ps(scale);
    for (long r0 = 0; r0 < t; r0 += 4) {
        const long end = r0 + 4 < t ? r0 + 4 : t;
        float *A[4];
        for (int i = 0; i < 4; i++) {
            const long r = r0 + i < t ? r0 + i : t - 1;
            A[i] = keep ? keep + (r * (r + 1) / 2) * 16 : row + i * t * 16;
        }
        __m512 m[4];
        for (int i = 0; i < 4; i++) m[i] = _mm512_set1_ps(-INFINITY);
        for (long s0 = 0; s0 < end; s0 += 6) {
            __m512 acc[4][6];
            laneScoreBlock(Ql, Kl, dk, r0, t - 1, s0, end - 1, 6, acc);
            for (int i = 0; i < 4 && r0 + i < t; i++)
                for (int j = 0; j < 6 && s0 + j <= r0 + i; j++) {
                    const __m512 x = _mm512_mul_ps(acc[i][j], vs);
                    _mm512_store_ps(A[i] + (s0 + j) * 16, x);
                    m[i] = _mm512_max_ps(x, m[i]);
                }
        }
        TICK(1);
        if (softmax)
            for (int i = 0; i < 4 && r0 + i < t; i++) laneSoftmaxRow(A[i], r0 + i, m[i]);
        TICK(2);
        for (long c0 = 0; c0 < dv; c0 += 5) {
            const int nc = dv - c0 < 5 ? (int)(dv - c0) : 5;
            __m512 ov[4][6];
            laneMixBlock(A, r0, end, Vl, dv, c0, nc, ov);
            for (int i = 0; i < 4; i++) for (int j = 0; j < nc; j++) _mm512_store_ps(ol + (i * dv + c0 + j) * 16, ov[i][j]);
        }
        TICK(3);
        for (int i = 0; i < 4 && r0 + i < t; i++) {
            float *orow[16];
            for (int p = 0; p < 16; p++) orow[p] = o[p] + (r0 + i) * outStride;
            storeLanes(ol + i * dv * 16, dv, pairs, orow);
        }
        TICK(4);
    }
}
