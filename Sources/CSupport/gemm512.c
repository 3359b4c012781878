// A 16-lane (AVX-512) Float32 GEMM for the thin products of mesa's models (MesaTensor's SmallGemm
// decides; every other call stays on OpenBLAS), bit for bit what OpenBLAS's SkylakeX sgemm computes
// for the shapes it is given (Tests/MesaTensorTests/SmallGemmTests.swift and
// scripts/gemm512-check.sh compare with cblas_sgemm over many shapes):
// - mesa512_sgemm_small: C = A·op(B) + β·C, A not transposed, α = 1, β ∈ {0, 1}, K ≤ 256: every
//   C element is ONE chain of fused multiply-adds over k = 0…K−1 in order, starting from +0, then
//   C = acc + 0 (β = 0: −0 becomes +0, C is never read) or C = acc + C (β = 1). Unlike OpenBLAS it
//   packs no A and clears no C: op(B) (at most 256 × N) is copied into 16-wide column panels only
//   when B is transposed, and each 8-row × 48-column tile of C is written once.
// - mesa512_sgemm_tn: the weight gradients C = Aᵀ·B + β·C (K = rows of a tile): the same tiles
//   with A read along its rows (8 contiguous values per k), K cut into OpenBLAS's blocks, one
//   chain per block, C = acc + C after each (see the function).
// Only the functions marked MESA_AVX512 use AVX-512; they run only after mesa_cpu_has_avx512()
// said yes. No fusing beyond the written FMAs:
#pragma clang fp contract(off)

#include "CSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_INLINE static inline __attribute__((always_inline))

/// Lanes [0, n) of a 16-lane mask (n clamped to 0...16).
static inline __mmask16 gemmLanes(long n) {
    if (n <= 0) return 0;
    if (n >= 16) return 0xFFFF;
    return (__mmask16)((1u << n) - 1);
}

/// One tile: rows [0, MR) of op(A) times columns [0, 16·NV) of op(B) (row stride ldb, the last
/// 16-column group masked by `last`), into C (row stride ldc). op(A)[r][p] is a[r·lda + p] (A as
/// it is) or, TRANSA, a[p·lda + r] (A transposed: the 8 values of one p are contiguous). acc(r, v)
/// runs acc = fma(op(A)[r][p], B[p][16v + lane], acc) for p = 0, 1, …, K−1 from +0; then
/// `store` writes acc + 0 (GEMM_STORE_ADD_ZERO: −0 becomes +0, C is not read), acc + C
/// (GEMM_STORE_ADD_C) or acc itself (GEMM_STORE_ACC).
enum { GEMM_STORE_ADD_ZERO = 0, GEMM_STORE_ADD_C = 1, GEMM_STORE_ACC = 2 };

MESA_AVX512 MESA_INLINE void gemmTile(const int TRANSA, const int MR, const int NV, long k, const float *a, long lda,
                                      const float *b, long ldb, __mmask16 last, int store, float *c, long ldc) {
    __m512 acc[8][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (long p = 0; p < k; p++) {
        __m512 bv[3];
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + p * ldb + 16 * v) : _mm512_loadu_ps(b + p * ldb + 16 * v);
        for (int r = 0; r < MR; r++) {
            const __m512 ar = _mm512_set1_ps(TRANSA ? a[p * lda + r] : a[r * lda + p]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) {
            const __mmask16 m = v == NV - 1 ? last : 0xFFFF;
            float *out = c + r * ldc + 16 * v;
            __m512 result = acc[r][v];
            if (store == GEMM_STORE_ADD_C) result = _mm512_add_ps(result, _mm512_maskz_loadu_ps(m, out));
            else if (store == GEMM_STORE_ADD_ZERO) result = _mm512_add_ps(result, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(out, m, result);
        }
}

typedef void (*GemmTileFunction)(long k, const float *a, long lda, const float *b, long ldb, __mmask16 last,
                                 int store, float *c, long ldc);

#define GEMM_TILE(MR, NV)                                                                                      \
    MESA_AVX512 static void gemmTile_##MR##_##NV(long k, const float *a, long lda, const float *b, long ldb,  \
                                                 __mmask16 last, int store, float *c, long ldc) {             \
        gemmTile(0, MR, NV, k, a, lda, b, ldb, last, store, c, ldc);                                          \
    }                                                                                                          \
    MESA_AVX512 static void gemmTileT_##MR##_##NV(long k, const float *a, long lda, const float *b, long ldb, \
                                                  __mmask16 last, int store, float *c, long ldc) {            \
        gemmTile(1, MR, NV, k, a, lda, b, ldb, last, store, c, ldc);                                          \
    }
#define GEMM_TILES(MR) GEMM_TILE(MR, 1) GEMM_TILE(MR, 2) GEMM_TILE(MR, 3)
GEMM_TILES(1) GEMM_TILES(2) GEMM_TILES(3) GEMM_TILES(4) GEMM_TILES(5) GEMM_TILES(6) GEMM_TILES(7) GEMM_TILES(8)

static const GemmTileFunction gemmTiles[9][4] = {
    {0, 0, 0, 0},
#define GEMM_ROW(MR) {0, gemmTile_##MR##_1, gemmTile_##MR##_2, gemmTile_##MR##_3},
    GEMM_ROW(1) GEMM_ROW(2) GEMM_ROW(3) GEMM_ROW(4) GEMM_ROW(5) GEMM_ROW(6) GEMM_ROW(7) GEMM_ROW(8)
};

static const GemmTileFunction gemmTilesT[9][4] = {
    {0, 0, 0, 0},
#define GEMM_ROW_T(MR) {0, gemmTileT_##MR##_1, gemmTileT_##MR##_2, gemmTileT_##MR##_3},
    GEMM_ROW_T(1) GEMM_ROW_T(2) GEMM_ROW_T(3) GEMM_ROW_T(4) GEMM_ROW_T(5) GEMM_ROW_T(6) GEMM_ROW_T(7) GEMM_ROW_T(8)
};

/// The calling thread's panel for a transposed B (grown as needed, kept for the thread's life).
static _Thread_local float *gemmPanel;
static _Thread_local long gemmPanelCount;

static float *gemmPanelOfAtLeast(long count) {
    if (count > gemmPanelCount) {
        free(gemmPanel);
        long bytes = (count * (long)sizeof(float) + 63) & ~63L;
        gemmPanel = aligned_alloc(64, (size_t)bytes);
        gemmPanelCount = gemmPanel ? count : 0;
    }
    return gemmPanel;
}

/// 16 × 16 transpose in registers: r[i] lane j becomes r[j] lane i.
MESA_AVX512 MESA_INLINE void gemmTranspose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // Each 128-bit quarter is now transposed within its group of four rows; two rounds of
    // 128-bit shuffles move the quarters into place.
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/// op(B) = Bᵀ into rows of the panel: panel[p·np + j] = b[j·ldb + p] for j < n, p < k, in 16 × 16
/// blocks transposed in registers (masked at the edges). Columns n…np−1 are left as they are: the
/// tiles mask them off.
MESA_AVX512 static void gemmTransposeIntoPanel(long n, long k, const float *b, long ldb, float *panel, long np) {
    for (long j0 = 0; j0 < n; j0 += 16) {
        const long rows = n - j0 < 16 ? n - j0 : 16;
        const __mmask16 rowMask = gemmLanes(rows);
        for (long p0 = 0; p0 < k; p0 += 16) {
            const long cols = k - p0 < 16 ? k - p0 : 16;
            const __mmask16 colMask = gemmLanes(cols);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_ps(colMask, b + (j0 + i) * ldb + p0) : _mm512_setzero_ps();
            gemmTranspose16(r);
            for (int i = 0; i < cols; i++) _mm512_mask_storeu_ps(panel + (p0 + i) * np + j0, rowMask, r[i]);
        }
    }
}

MESA_AVX512 int mesa512_sgemm_small(int transB, long m, long n, long k, const float *a, long lda,
                                    const float *b, long ldb, int accumulate, float *c, long ldc) {
    if (m <= 0 || n <= 0) return 1;
    const float *bk = b;  // op(B) row-major, row stride ldk
    long ldk = ldb;
    if (transB) {
        // op(B)[p][j] = B[j][p]: copy into rows of np = N rounded up to 16.
        const long np = (n + 15) & ~15L;
        if (k * np > (1L << 20)) return 0;  // a panel over 4 MiB per thread: leave it to OpenBLAS
        float *panel = gemmPanelOfAtLeast(k * np);
        if (!panel) return 0;
        gemmTransposeIntoPanel(n, k, b, ldb, panel, np);
        bk = panel;
        ldk = np;
    }
    for (long i0 = 0; i0 < m; i0 += 8) {
        const long mr = m - i0 < 8 ? m - i0 : 8;
        for (long j0 = 0; j0 < n; j0 += 48) {
            const long left = n - j0;
            const long nv = left >= 48 ? 3 : (left + 15) / 16;
            gemmTiles[mr][nv](k, a + i0 * lda, lda, bk + j0, ldk, gemmLanes(left - 16 * (nv - 1)),
                              accumulate ? GEMM_STORE_ADD_C : GEMM_STORE_ADD_ZERO, c + i0 * ldc + j0, ldc);
        }
    }
    return 1;
}

/// The length of the next K block when `left` of K remain, blocks of at most `q` (q ≥ 1) with
/// OpenBLAS's level-3 driver rule (driver/level3/level3.c): `left` ≥ 2q → q; q < `left` < 2q →
/// half of `left` rounded up to a multiple of `unroll`; else all of `left`. q = 0: one block.
static long gemmNextBlock(long left, long q, long unroll) {
    if (q <= 0 || left <= q) return left;
    if (left >= 2 * q) return q;
    return (left / 2 + unroll - 1) / unroll * unroll;
}

MESA_AVX512 int mesa512_sgemm_tn(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                                 int accumulate, long blockQ, long blockUnroll, float *c, long ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    // blockQ > 0: OpenBLAS's large-kernel order, C = acc_1 + (C or +0), then C = acc_b + C for each
    // further K block. blockQ = 0: its small-kernel order, one chain, C = acc + C or C = acc.
    const int firstStore = accumulate ? GEMM_STORE_ADD_C : blockQ > 0 ? GEMM_STORE_ADD_ZERO : GEMM_STORE_ACC;
    for (long i0 = 0; i0 < m; i0 += 8) {
        const long mr = m - i0 < 8 ? m - i0 : 8;
        for (long j0 = 0; j0 < n; j0 += 48) {
            const long left = n - j0;
            const long nv = left >= 48 ? 3 : (left + 15) / 16;
            const __mmask16 lanes = gemmLanes(left - 16 * (nv - 1));
            int store = firstStore;
            for (long p0 = 0; p0 < k;) {
                const long kb = gemmNextBlock(k - p0, blockQ, blockUnroll);
                gemmTilesT[mr][nv](kb, a + p0 * lda + i0, lda, b + p0 * ldb + j0, ldb, lanes, store, c + i0 * ldc + j0, ldc);
                store = GEMM_STORE_ADD_C;
                p0 += kb;
            }
        }
    }
    return 1;
}

#else  // not x86-64: OpenBLAS always runs.

int mesa512_sgemm_tn(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                     int accumulate, long blockQ, long blockUnroll, float *c, long ldc) { return 0; }

int mesa512_sgemm_small(int transB, long m, long n, long k, const float *a, long lda,
                        const float *b, long ldb, int accumulate, float *c, long ldc) { return 0; }

#endif
