import Testing
import MesaTensor

/// When the `mesa` tool restarts itself with other OpenBLAS kernels (`BLASKernels.shouldRestart`):
/// whenever the family in use is not the CPU's preferred one and the user has not chosen. Debian's
/// OpenBLAS 0.3.21 gives an AVX-512 AMD EPYC (Zen 5) its "Cooperlake" kernels, whose sgemm is
/// SkylakeX's but beside which mesa's thin products (SmallGemm) stay off: softmax-7's step took
/// 81 ms there against 73 ms after the restart.
@Suite struct BLASKernelsTests {
    @Test func restartsWheneverTheFamilyIsNotThePreferredOne() {
        for core in ["Prescott", "Haswell", "Zen", "Cooperlake", "SapphireRapids"] {
            #expect(BLASKernels.shouldRestart(coreInUse: core, preferred: "SkylakeX", userChose: false), "\(core)")
        }
        #expect(BLASKernels.shouldRestart(coreInUse: "Prescott", preferred: "Haswell", userChose: false))
        #expect(BLASKernels.shouldRestart(coreInUse: "Zen", preferred: "Haswell", userChose: false))
    }

    @Test func keepsThePreferredFamilyWhateverItsSpelling() {
        #expect(!BLASKernels.shouldRestart(coreInUse: "SkylakeX", preferred: "SkylakeX", userChose: false))
        #expect(!BLASKernels.shouldRestart(coreInUse: "SKYLAKEX", preferred: "SkylakeX", userChose: false))
        #expect(!BLASKernels.shouldRestart(coreInUse: "haswell", preferred: "Haswell", userChose: false))
    }

    /// `OPENBLAS_CORETYPE` set by the user wins, even when it names weaker kernels; and a CPU
    /// without AVX2 (no preferred family) never restarts.
    @Test func theUsersChoiceAndAnUnknownCPUNeverRestart() {
        #expect(!BLASKernels.shouldRestart(coreInUse: "Haswell", preferred: "SkylakeX", userChose: true))
        #expect(!BLASKernels.shouldRestart(coreInUse: "Prescott", preferred: nil, userChose: false))
    }
}
