// scripts/gemm512-check.sh nn-small: a model of OpenBLAS's SkylakeX small-matrix NN kernel
// (sgemm_small_kernel_nn / _b0_nn, which OpenBLAS runs for row-major C = A·B + β·C when
// M·N·K ≤ 100³), checked element by element against cblas_sgemm. These calls stay on OpenBLAS
// today (MesaTensor's SmallGemm.takes); the model says what gemm512 would have to compute to take
// them with the same bits (BENCHMARKS.md, "Stop 17"). In row-major terms, per element C[i][j]:
// - columns j < N16 = N rounded down to 16, and every column when the tail N − N16 is over 8 or
//   K < 32: one FMA chain over k = 0…K−1 from +0 (as gemm512 computes), then C = acc (β = 0: acc·α
//   with α = 1, so a −0 stays −0) or acc + C (β = 1);
// - the other tail columns: sixteen chains, lane l over k ≡ l (mod 16) in order from +0, then
//   a tree: per 128-bit quarter q, (r[4q] + r[4q+1]) + (r[4q+2] + r[4q+3]), then (Q0 + Q1) +
//   (Q2 + Q3) — except in the last N mod 4 columns of rows i ≥ M rounded down to 4, which take
//   _mm512_reduce_add_ps's tree (r[l] + r[l+8], then +4, +2, +1); then + C when β = 1.
// Exit 1 if the model and cblas_sgemm differ in any element.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long s = 12345;
static float rnd(void) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(s >> 11) / (double)(1ULL << 53) * 2 - 1);
}
static int same(float a, float b) { return memcmp(&a, &b, 4) == 0; }

static float quarterTree(const float r[16]) {
    float q[4];
    for (int g = 0; g < 4; g++) q[g] = (r[4 * g] + r[4 * g + 1]) + (r[4 * g + 2] + r[4 * g + 3]);
    return (q[0] + q[1]) + (q[2] + q[3]);
}
static float halvingTree(const float r[16]) {
    float t8[8], t4[4];
    for (int l = 0; l < 8; l++) t8[l] = r[l] + r[l + 8];
    for (int l = 0; l < 4; l++) t4[l] = t8[l] + t8[l + 4];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

static float model(const float *A, long lda, const float *B, long ldb, long M, long N, long K, long i, long j) {
    const long n16 = N / 16 * 16, tail = N - n16;
    if (j < n16 || tail > 8 || K < 32) {
        float acc = 0;
        for (long p = 0; p < K; p++) acc = fmaf(A[i * lda + p], B[p * ldb + j], acc);
        return acc;
    }
    float r[16] = {0};
    for (long p = 0; p < K; p++) r[p % 16] = fmaf(A[i * lda + p], B[p * ldb + j], r[p % 16]);
    return (j < (N & ~3L) || i < (M & ~3L)) ? quarterTree(r) : halvingTree(r);
}

int main(void) {
    openblas_set_num_threads(1);
    printf("core %s\n", openblas_get_corename());
    const int Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100, 300, 500};
    const int Ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 19, 20, 21, 24, 25, 36, 40, 44, 56, 80, 97, 120};
    const int Ks[] = {1, 16, 20, 31, 32, 33, 40, 63, 64, 80, 100, 160, 256};
    long cases = 0, elements = 0, differ = 0, badCases = 0;
    for (int mi = 0; mi < 13; mi++)
        for (int ni = 0; ni < 22; ni++)
            for (int ki = 0; ki < 13; ki++) {
                const long M = Ms[mi], N = Ns[ni], K = Ks[ki];
                if ((double)M * N * K > 1e6) continue;  // OpenBLAS's large kernel: gemm512 takes those already
                for (int beta = 0; beta < 2; beta++) {
                    const long lda = K + mi % 3, ldb = N + (ni % 2) * 3, ldc = N + ki % 3;
                    float *A = malloc(4 * M * lda), *B = malloc(4 * K * ldb), *C = malloc(4 * M * ldc), *E = malloc(4 * M * ldc);
                    for (long x = 0; x < M * lda; x++) A[x] = rnd();
                    for (long x = 0; x < K * ldb; x++) B[x] = rnd();
                    for (long x = 0; x < M * ldc; x++) { C[x] = rnd(); E[x] = C[x]; }
                    if (beta == 0) for (long x = 0; x < M * ldc; x += 5) C[x] = NAN;  // β = 0 must not read C
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
                    long d = 0;
                    for (long i = 0; i < M; i++)
                        for (long j = 0; j < N; j++) {
                            float r = model(A, lda, B, ldb, M, N, K, i, j);
                            if (beta) r = r + E[i * ldc + j];
                            if (!same(r, C[i * ldc + j])) d++;
                        }
                    cases++; elements += M * N; differ += d;
                    if (d) { badCases++; if (badCases <= 10) printf("M %ld N %ld K %ld beta %d: %ld differ\n", M, N, K, beta, d); }
                    free(A); free(B); free(C); free(E);
                }
            }
    printf("NN small-kernel model: %ld cases, %ld elements, %ld elements in %ld cases differ from cblas_sgemm\n",
           cases, elements, differ, badCases);
    return differ != 0;
}
