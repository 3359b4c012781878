import CBLAS
import CSupport
import Foundation

/// mesa's own Float32 GEMM for the thin products of its models (CSupport's gemm512.c, AVX-512):
/// C = A·op(B) + β·C with α = 1, β ∈ {0, 1}, K ≤ 256: the attention projections X·Wᵀ, O·Pᵀ and
/// their backward dX = dQKV·W, the MLP's up/down products and their backward dX; and the weight
/// gradients C = Aᵀ·B + β·C (any K: the rows of a tile). It gives the same bits as OpenBLAS's
/// SkylakeX `cblas_sgemm` for exactly the calls it takes (Tests/MesaTensorTests/SmallGemmTests.swift)
/// and skips OpenBLAS's packing of A and B and its clearing of C (β = 0).
///
/// Why the bits agree: for K up to 256 OpenBLAS's SkylakeX large-matrix kernel computes every
/// C element as one chain of fused multiply-adds over k = 0…K−1 from +0, then adds 0 (β = 0)
/// or C (β = 1); so does gemm512.c. OpenBLAS's small-matrix kernels (taken when M·N·K ≤ 100³,
/// and for B transposed only when also M·N ≤ 1200 and K ≥ 32) do not always keep one chain
/// (column tails, few rows), so those calls stay on OpenBLAS, as do every other α and β, Double,
/// A and B both transposed, and every call when OpenBLAS runs kernels other than SkylakeX.
///
/// The weight gradients (A transposed, B not; BLAS's column-major NT): when M·N·K > 100³ OpenBLAS's
/// level-3 driver cuts K into blocks (at most GEMM_Q = 448 for SkylakeX SGEMM; between 448 and 896
/// left, half of them rounded up to a multiple of GEMM_UNROLL_M = 16), runs its kernel's one FMA
/// chain from +0 per block and adds each block's sum into C (cleared first when β = 0): C = acc + C
/// per block, in order. Otherwise its NT small kernel runs one chain over all of K and stores
/// acc + C (β = 1) or acc itself (β = 0, so a −0 chain stays −0). gemm512.c's transposed-A tiles
/// follow either order (`kBlock`); scripts/gemm512-check.sh bits-tn and the tests confirm both over
/// K 1…3000. Only the large-kernel shapes are taken (`takes`).
public enum SmallGemm {
    /// The largest inner dimension K taken.
    public static let maxK = 256

    /// Whether the kernel runs: the CPU has AVX-512, OpenBLAS runs its SkylakeX kernels (the ones
    /// whose bits it reproduces) and MESA_KERNELS is not "portable" (read once).
    public static let enabled: Bool = decide(kernels: KernelChoice.environmentValue,
                                             avx512: KernelChoice.cpuHasAVX512,
                                             openBLASCore: String(cString: openblas_get_corename()))

    /// The rule behind `enabled`, for tests.
    public static func decide(kernels: String?, avx512: Bool, openBLASCore: String) -> Bool {
        kernels != "portable" && avx512 && openBLASCore.lowercased() == "skylakex"
    }

    /// Whether a call of this shape goes to gemm512.c when `enabled` (else to OpenBLAS): A not
    /// transposed, α = 1, β 0 or 1, 1 ≤ K ≤ 256, and a shape for which OpenBLAS takes its
    /// large-matrix kernel (its `sgemm_small_kernel_permit` for SkylakeX, in BLAS's column-major
    /// terms: C's columns are our rows, its A our B; row-major NT is its TN).
    /// With A transposed and B not (the weight gradients): α = 1, β 0 or 1, any K ≥ 1, and a shape
    /// for which OpenBLAS takes its large kernel (M·N·K > 100³; `kBlock`). Its small kernel's one
    /// chain is reproduced too (`runTransposedA`, tests) but not taken: for those shapes gemm512
    /// measured slower than OpenBLAS (BENCHMARKS.md, stop 12).
    public static func takes(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float) -> Bool {
        if transA {
            return !transB && alpha == 1 && (beta == 0 || beta == 1) && k >= 1 && m >= 1 && n >= 1
                && Double(m) * Double(n) * Double(k) > 1_000_000
        }
        guard alpha == 1, beta == 0 || beta == 1, k >= 1, k <= maxK, m >= 1, n >= 1 else { return false }
        if Double(m) * Double(n) * Double(k) > 1_000_000 { return true }
        return transB && (m * n > 1200 || k < 32)
    }

    /// gemm512.c itself, whatever `enabled` says (tests and benchmarks; the shape must satisfy
    /// `takes` but for the OpenBLAS small-kernel rule, and the CPU must have AVX-512). Returns
    /// false, C untouched, when B's panel would pass 4 MiB or memory ran out (Float.gemm then calls
    /// OpenBLAS, whose bits are the same).
    public static func run(transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        precondition(cpuHasAVX512, "SmallGemm.run needs AVX-512")
        precondition(k >= 1 && k <= maxK && (beta == 0 || beta == 1), "SmallGemm.run: K \(k), beta \(beta) not taken")
        return mesa512_sgemm_small(transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta == 1 ? 1 : 0, c, ldc) != 0
    }

    /// OpenBLAS's K-block size for a weight gradient C[m×n] = Aᵀ·B with K = k (A transposed, B not):
    /// its SkylakeX SGEMM GEMM_Q, 448, when its large kernel runs (M·N·K > 100³, the same
    /// small-kernel rule as above with A not transposed in BLAS's terms), else 0: its small kernel's
    /// one chain. Blocks between GEMM_Q and 2·GEMM_Q are halved up to a multiple of `kBlockUnroll`.
    public static func kBlock(m: Int, n: Int, k: Int) -> Int {
        Double(m) * Double(n) * Double(k) > 1_000_000 ? 448 : 0
    }

    /// OpenBLAS's SkylakeX SGEMM GEMM_UNROLL_M (param.h), the multiple that its K blocks are rounded to.
    public static let kBlockUnroll = 16

    /// gemm512.c's weight-gradient product C = Aᵀ·B + β·C (A [k × m], B [k × n], row-major) in
    /// OpenBLAS's order, whatever `enabled` says (tests and benchmarks; the CPU must have AVX-512).
    /// `blockQ` defaults to OpenBLAS's (`kBlock`); tests pass others to show the order matters.
    public static func runTransposedA(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                      b: UnsafePointer<Float>, ldb: Int, beta: Float,
                                      c: UnsafeMutablePointer<Float>, ldc: Int, blockQ: Int? = nil) {
        precondition(cpuHasAVX512, "SmallGemm.runTransposedA needs AVX-512")
        precondition(k >= 1 && m >= 1 && n >= 1 && (beta == 0 || beta == 1), "SmallGemm.runTransposedA: K \(k), beta \(beta) not taken")
        _ = mesa512_sgemm_tn(m, n, k, a, lda, b, ldb, beta == 1 ? 1 : 0, blockQ ?? kBlock(m: m, n: n, k: k), kBlockUnroll, c, ldc)
    }

    /// Whether this CPU can run gemm512.c (AVX-512 F/BW/DQ/VL with FMA).
    public static var cpuHasAVX512: Bool { KernelChoice.cpuHasAVX512 }

    /// OpenBLAS's `cblas_sgemm` itself, whatever `enabled` says (the reference of the tests).
    public static func openBLAS(transA: Bool = false, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                                c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = Parallel.configureBLAS
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// One line for reports.
    public static var description: String {
        if enabled { return "mesa gemm512 for thin products (K ≤ 256) and weight gradients, OpenBLAS otherwise; MESA_KERNELS=portable for OpenBLAS only" }
        return "OpenBLAS only (mesa gemm512 off: needs AVX-512 and OpenBLAS's SkylakeX kernels; MESA_KERNELS=portable turns it off)"
    }
}
