// scripts/gemm512-check.sh bits-tn: mesa512_sgemm_tn (the weight gradients, C = Aᵀ·B + β·C) bit for
// bit against cblas_sgemm (row-major, A transposed, B not) over K 1…3000 across OpenBLAS's K-block
// boundaries (448, 896, 1344), M and N 1…300, β 0 and 1, strided lda/ldb/ldc, half the cases with
// exact ±0 entries and tiny entries whose products round to ±0 (so −0 chains occur). The order is
// the one MesaTensor's SmallGemm passes (its rule is repeated in `order` below): M·N·K > 100³ →
// OpenBLAS's large kernel, K blocks of GEMM_Q 448 halved to multiples of 16; else its small
// kernel, one chain. Also counts the cases where the other order (blocks ↔ one chain) would differ,
// which shows the cases tell the two apart.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "CSupport.h"
static unsigned long long s = 777;
static float rnd(void) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return (float)((double)(s >> 11) / (double)(1ULL << 53) * 2 - 1); }
static float val(int mode) {
    float r = rnd();
    if (mode == 1) { if (r > 0.5f) return 0.0f; if (r < -0.85f) return -0.0f; if (r > 0.3f || r < -0.6f) return r * 1e-30f; }
    return r;
}
static long order(long m, long n, long k) { return (double)m * n * k > 1e6 ? 448 : 0; }
int main(void) {
    openblas_set_num_threads(1);
    printf("core %s\n", openblas_get_corename());
    int Ks[] = {1, 2, 31, 32, 100, 255, 256, 257, 384, 447, 448, 449, 450, 463, 464, 465, 480, 499, 500, 511, 512, 513,
                640, 767, 768, 800, 895, 896, 897, 900, 911, 912, 913, 1000, 1024, 1343, 1344, 1345, 1800, 2000, 3000};
    int nk = sizeof Ks / sizeof *Ks;
    int fixedM[] = {240, 40, 40, 160, 80, 16, 17, 300}, fixedN[] = {40, 80, 160, 40, 40, 300, 1, 17};
    long cases[2] = {0, 0}, elements = 0, bad = 0, otherOrderDiffers = 0, negativeZeros = 0;
    for (int ki = 0; ki < nk; ki++)
        for (int t = 0; t < 24; t++) {
            long K = Ks[ki], M, N;
            if (t < 8) { M = fixedM[t]; N = fixedN[t]; }
            else {
                M = 1 + (long)((rnd() + 1) * 0.5f * 299.99f); N = 1 + (long)((rnd() + 1) * 0.5f * 299.99f);
                if (t % 4 == 0) M = 1 + M % 20;
            }
            int beta = t % 2, mode = (t / 2) % 2;
            long lda = M + (t % 3), ldb = N + (t % 2) * 3, ldc = N + ((t / 3) % 3);
            float *A = malloc(4L * K * lda), *B = malloc(4L * K * ldb), *C = malloc(4L * M * ldc), *D = malloc(4L * M * ldc),
                  *E = malloc(4L * M * ldc);
            for (long i = 0; i < K * lda; i++) A[i] = val(mode);
            for (long i = 0; i < K * ldb; i++) B[i] = val(mode);
            for (long i = 0; i < M * ldc; i++) { C[i] = val(mode); if (mode == 1 && i % 7 == 0) C[i] = -0.0f; if (!beta && i % 5 == 0) C[i] = NAN; D[i] = E[i] = C[i]; }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
            long q = order(M, N, K);
            mesa512_sgemm_tn(M, N, K, A, lda, B, ldb, beta, q, 16, D, ldc);
            mesa512_sgemm_tn(M, N, K, A, lda, B, ldb, beta, q ? 0 : 448, 16, E, ldc);
            long d = 0, e = 0;
            for (long i = 0; i < M * ldc; i++) { d += memcmp(&C[i], &D[i], 4) != 0; e += memcmp(&C[i], &E[i], 4) != 0; }
            for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) negativeZeros += C[i * ldc + j] == 0 && signbit(C[i * ldc + j]);
            cases[q > 0]++; elements += M * N; bad += d; otherOrderDiffers += e != 0;
            if (d) printf("M %ld N %ld K %ld beta %d mode %d: %ld differ\n", M, N, K, beta, mode, d);
            free(A); free(B); free(C); free(D); free(E);
        }
    printf("transA: %ld cases (%ld large-kernel order, %ld small-kernel order), %ld elements, %ld differ from cblas_sgemm; "
           "-0 results %ld; the other order would differ in %ld cases\n",
           cases[0] + cases[1], cases[1], cases[0], elements, bad, negativeZeros, otherOrderDiffers);
    return bad != 0;
}
