import CSupport

/// The machine's single-precision FMA rate as a register-only loop reaches it (CSupport/fmapeak.c):
/// `iterations` rounds of 12 independent fused multiply-adds of 16 lanes (AVX-512) or 8 (AVX2 +
/// FMA) on each of `threads` threads at once, in GFLOP/s. 0 where the CPU has neither.
public enum FMAPeak {
    public static func gflops(threads: Int, iterations: Int = 40_000_000) -> Double {
        mesa_fma_peak_gflops(Int32(clamping: threads), iterations)
    }
}
