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

    /// Whether a sequence's Float32 values have the same bits in any batch, so that a step's
    /// micro-batches and a held-out evaluation's chunks give the whole batch's loss bit for bit:
    /// with OpenBLAS's SkylakeX kernels, whose products give each row the bits of any larger call
    /// (the rule behind `productRowParts`; `scripts/gemm512-check.sh row-split`). Not with its AVX2
    /// ("Haswell") kernels, where 1 160 of 2 184 row-split calls differ: there a split batch agrees
    /// with the whole to rounding. Same seed → same bytes holds with either (the parts are fixed).
    public static var sequencesKeepTheirBitsInAnyBatch: Bool { coreName.lowercased() == "skylakex" }

    /// Whether OpenBLAS's server threads are running (nil: this OpenBLAS has none to ask about).
    /// False once `Parallel.configure()` has run: mesa never asks BLAS for threads.
    public static var serverThreadsRunning: Bool? {
        let r = mesa_blas_server_threads_running()
        return r < 0 ? nil : r == 1
    }

    /// Whether a process whose OpenBLAS runs `coreInUse` should restart with `preferred`:
    /// whenever they differ and the user has not chosen (`userChose`). Not only when the kernels
    /// in use are weaker: Debian's OpenBLAS 0.3.21 serves an AVX-512 AMD EPYC (Zen 5) with
    /// its "Cooperlake" kernels (the same sgemm as SkylakeX's, but mesa's own thin products,
    /// `SmallGemm`, run only beside the family named SkylakeX: softmax-7's step took 81 ms
    /// there against 73 ms after the restart), and an AVX-512 CPU it takes for an AVX2 one its
    /// "Haswell" or "Zen" kernels, whose bits differ. One family per instruction set gives every
    /// CPU that has it the same speed-ups and the same bytes (BENCHMARKS.md, Speed II, stop 23).
    public static func shouldRestart(coreInUse: String, preferred: String?, userChose: Bool) -> Bool {
        guard !userChose, let preferred else { return false }
        return coreInUse.lowercased() != preferred.lowercased()
    }

    /// Whether OpenBLAS runs other kernels than the best family this CPU supports and the user
    /// has not chosen them (`OPENBLAS_CORETYPE` unset).
    public static var shouldChooseBetterKernels: Bool {
        shouldRestart(coreInUse: coreName, preferred: preferredCore,
                      userChose: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil)
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
