// The BLAS mesa links: OpenBLAS (Debian: libopenblas-dev). Its cblas.h also declares
// openblas_set_num_threads, which mesa uses to keep BLAS single-threaded and parallelize
// over the batch itself (see MesaTensor/Parallel.swift).
#include <cblas.h>
