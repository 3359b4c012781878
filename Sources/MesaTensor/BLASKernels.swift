import CBLAS
import CSupport
import Foundation

/// Which OpenBLAS kernels run mesa's matrix products.
///
/// Debian's OpenBLAS picks its kernels from the CPU model at load time; a model it does not
/// know (common in virtual machines, which report a generic "Intel Xeon Processor") is
/// named "Prescott" and gets SSE3 kernels that run 3–5× slower than the AVX2 or AVX-512
/// ones the CPU supports. `OPENBLAS_CORETYPE` overrides the choice, but only before the
/// library loads, so the `mesa` tool restarts itself once with it set.
public enum BLASKernels {
    /// The kernel family OpenBLAS is using in this process.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The best kernel family this CPU supports among those mesa knows ("SkylakeX",
    /// "Haswell"), or nil.
    public static var preferredCore: String? { mesa_preferred_openblas_core().map { String(cString: $0) } }

    /// Whether OpenBLAS's server threads are running (nil: this OpenBLAS has none to ask about).
    /// False once `Parallel.configure()` has run: mesa never asks BLAS for threads.
    public static var serverThreadsRunning: Bool? {
        let r = mesa_blas_server_threads_running()
        return r < 0 ? nil : r == 1
    }

    /// Kernel families at least as fast as the preferred ones for single-precision GEMM.
    static let goodCores: Set<String> = ["haswell", "skylakex", "cooperlake", "sapphirerapids", "zen"]

    /// Whether OpenBLAS runs weaker kernels than this CPU supports and the user has not
    /// chosen them (`OPENBLAS_CORETYPE` unset).
    public static var shouldChooseBetterKernels: Bool {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, preferredCore != nil else { return false }
        return !goodCores.contains(coreName.lowercased())
    }

    /// Call first thing in a command-line tool: if `shouldChooseBetterKernels`, restarts the
    /// process with `OPENBLAS_CORETYPE` set to the preferred kernels (same executable, same
    /// arguments). Returns normally when nothing needs to change or the restart fails.
    /// Then (no restart needed, or it failed) makes BLAS single-threaded and stops OpenBLAS's
    /// idle server threads at once rather than at the first kernel (`Parallel.configure()`).
    public static func restartWithBetterKernelsIfNeeded() {
        if shouldChooseBetterKernels, let preferred = preferredCore {
            setenv("OPENBLAS_CORETYPE", preferred, 1)
            mesa_reexec_self(CommandLine.unsafeArgv)
        }
        Parallel.configure()
    }
}
