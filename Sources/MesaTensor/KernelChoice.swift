import CSupport
import Foundation

/// Where mesa's AVX-512 kernels run, decided once for the process: the CPU has AVX-512
/// F/BW/DQ/VL with FMA (checked with CPUID) and `MESA_KERNELS` is not "portable". Every family of
/// fast kernels asks here — the score core (MesaNN's `ScoreKernels`), the LDS batch's lanes
/// (`LaneKernels`) and the thin GEMM (`SmallGemm`) — so one variable switches them all, and all give
/// the bits of their portable versions. Values other than "portable", "auto" or empty are refused
/// by `mesa` at start-up (`environmentProblem`).
public enum KernelChoice {
    /// Whether this CPU can run the AVX-512 kernels.
    public static let cpuHasAVX512: Bool = mesa_cpu_has_avx512() != 0

    /// MESA_KERNELS as set (nil when unset), read once.
    public static let environmentValue: String? = ProcessInfo.processInfo.environment["MESA_KERNELS"]

    /// Whether the AVX-512 kernels run: the CPU has them and MESA_KERNELS is not "portable".
    public static let avx512: Bool = cpuHasAVX512 && environmentValue != "portable"

    /// What is wrong with MESA_KERNELS, or nil.
    public static var environmentProblem: String? {
        let value = environmentValue ?? "auto"
        return ["portable", "auto", ""].contains(value) ? nil : "MESA_KERNELS must be \"portable\" or \"auto\", got \"\(value)\""
    }
}
