/* The rule behind MesaTensor's productRowParts, checked against the OpenBLAS on this machine:
   a row-major product C [m, n] = A [m, k] · op(B) computed in a call of m rows gives every row
   the bits it gets in a call of more rows whenever m · n · k > 100³ (OpenBLAS's SkylakeX
   small-matrix kernels, whose sums may run in another order, are permitted only below that).
   For each precision, op(B) ∈ {B, Bᵀ}, n and k on a grid and seven m from 10⁶/(n·k) + 1 up,
   the m-row call is compared with one call of m + 700 rows. Widths up to 256 are the ones mesa's
   models use (exit 1 if any of them differs); n = 257 and 300 are printed for reference. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double uniform(void) { return rand() / (double)RAND_MAX - 0.5; }

int main(void) {
    openblas_set_num_threads(1);
    const int ns[] = {1, 3, 8, 10, 16, 20, 40, 64, 80, 160, 240, 256, 257, 300};
    const int ks[] = {1, 5, 10, 20, 31, 32, 40, 80, 160, 240, 256, 300, 500};
    const int nn = sizeof ns / sizeof *ns, nk = sizeof ks / sizeof *ks;
    long checked[2] = {0, 0}, differ[2] = {0, 0}, checkedWide = 0, differWide = 0;
    for (int dbl = 0; dbl < 2; dbl++)
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < nn; a++)
                for (int b = 0; b < nk; b++) {
                    int n = ns[a], k = ks[b];
                    long r = 1000000L / ((long)n * k) + 1, big = r + 700;
                    size_t es = dbl ? sizeof(double) : sizeof(float);
                    char *A = malloc(es * big * k), *B = malloc(es * k * n), *C = malloc(es * big * n),
                         *ref = malloc(es * big * n);
                    if (!A || !B || !C || !ref) { fprintf(stderr, "out of memory\n"); return 2; }
                    srand(n * 1000 + k);
                    for (long i = 0; i < big * k; i++)
                        if (dbl) ((double *)A)[i] = uniform(); else ((float *)A)[i] = (float)uniform();
                    for (long i = 0; i < (long)k * n; i++)
                        if (dbl) ((double *)B)[i] = uniform(); else ((float *)B)[i] = (float)uniform();
                    int ldb = tb ? k : n;
                    enum CBLAS_TRANSPOSE opB = tb ? CblasTrans : CblasNoTrans;
#define CALL(rows, out)                                                                                   \
    do {                                                                                                  \
        if (dbl) cblas_dgemm(CblasRowMajor, CblasNoTrans, opB, (rows), n, k, 1.0, (double *)A, k,        \
                             (double *)B, ldb, 0.0, (double *)(out), n);                                  \
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, opB, (rows), n, k, 1.f, (float *)A, k, (float *)B, \
                         ldb, 0.f, (float *)(out), n);                                                    \
    } while (0)
                    CALL(big, ref);
                    const long ms[] = {r, r + 1, r + 3, r + 17, r + 64, r + 333, r + 699};
                    for (int i = 0; i < 7; i++) {
                        CALL(ms[i], C);
                        int bad = memcmp(C, ref, es * ms[i] * n) != 0;
                        if (n <= 256) { checked[dbl]++; differ[dbl] += bad; }
                        else { checkedWide++; differWide += bad; }
                        if (bad && n <= 256)
                            printf("differs: %s n %d k %d op(B) %s m %ld\n", dbl ? "double" : "float", n, k,
                                   tb ? "B^T" : "B", ms[i]);
                    }
                    free(A); free(B); free(C); free(ref);
                }
    printf("widths n <= 256: float %ld of %ld calls differ, double %ld of %ld\n", differ[0], checked[0], differ[1],
           checked[1]);
    printf("n = 257 and 300 (no model of mesa's): %ld of %ld calls differ\n", differWide, checkedWide);
    return differ[0] + differ[1] ? 1 : 0;
}
