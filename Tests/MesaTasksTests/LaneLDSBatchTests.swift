import Testing
import MesaTasks
import MesaTensor

/// The LDS batch through the AVX-512 lane kernels (data512.c, eight sequences per group) and
/// through the portable Swift path, each against the plain reference (`referenceBatch`), bit
/// for bit: both samplers, group sizes that do and do not fill the eight lanes, clipped states,
/// a shared teacher, T 1, n > 16, Float32 and Float64. On a CPU without AVX-512 the lane
/// request falls back to the portable path (and the test checks that path twice).
@Suite struct LaneLDSBatchTests {
    @Test(arguments: [
        (LinearDynamicalSystem(), 256, 50, DType.float32),
        (LinearDynamicalSystem(normals: .vectorized), 256, 50, .float32),
        (LinearDynamicalSystem(), 13, 50, .float64),
        (LinearDynamicalSystem(normals: .vectorized), 13, 50, .float64),
        (LinearDynamicalSystem(dimension: 5), 7, 9, .float32),
        (LinearDynamicalSystem(dimension: 5, normals: .vectorized), 9, 9, .float32),              // n² odd
        (LinearDynamicalSystem(dimension: 3, noise: 50, stateClip: 2), 11, 30, .float32),         // clipped
        (LinearDynamicalSystem(dimension: 3, noise: 50, stateClip: 2, normals: .vectorized), 5, 30, .float64),
        (LinearDynamicalSystem(dimension: 1, noise: 0), 3, 4, .float32),
        (LinearDynamicalSystem(dimension: 1, noise: 0, normals: .vectorized), 17, 4, .float32),
        (LinearDynamicalSystem(dimension: 10, fixedTeacher: 11), 10, 20, .float32),                // shared teacher
        (LinearDynamicalSystem(dimension: 10, fixedTeacher: 11, normals: .vectorized), 6, 20, .float64),
        (LinearDynamicalSystem(dimension: 4), 4, 1, .float32),                                     // T 1
        (LinearDynamicalSystem(dimension: 4, normals: .vectorized), 4, 1, .float64),
        (LinearDynamicalSystem(dimension: 17), 9, 6, .float32),                                    // n > 16
        (LinearDynamicalSystem(dimension: 17, normals: .vectorized), 3, 6, .float32),
        (LinearDynamicalSystem(dimension: 7), 8, 13, .float32),                                    // odd n, per not a multiple of 8
    ])
    func lanesAndPortableAreTheReference(lds: LinearDynamicalSystem, size: Int, length: Int, dtype: DType) {
        for (purpose, step) in [(RandomPurpose.trainingBatch, 3), (.testBatch, 0)] {
            let reference = lds.referenceBatch(size: size, length: length, seed: 5, purpose: purpose, step: step, dtype: dtype)
            for lanes in [true, false] {
                let fast = lds.makeBatch(size: size, length: length, seed: 5, purpose: purpose, step: step, dtype: dtype,
                                         lanes: lanes)
                #expect(fast.inputs.shape == reference.inputs.shape && fast.inputs.dtype == dtype)
                #expect(LDSBatchTests.bits(fast.inputs) == LDSBatchTests.bits(reference.inputs), "lanes \(lanes)")
                #expect(LDSBatchTests.bits(fast.targets) == LDSBatchTests.bits(reference.targets), "lanes \(lanes)")
            }
        }
    }

    /// A large seed (both key words used) and any number of threads (chunks that split the
    /// eight-sequence groups differently) give the same bytes.
    @Test func sameBytesForAnyNumberOfThreadsAndALargeSeed() {
        for sampler in NormalSampler.allCases {
            let lds = LinearDynamicalSystem(normals: sampler)
            let seed: UInt64 = 0xDEAD_BEEF_0123_4567
            let reference = lds.referenceBatch(size: 37, length: 20, seed: seed, purpose: .trainingBatch, step: 9)
            for workers in [1, 2, 3, 5] {
                let b = Parallel.withWorkers(workers) {
                    lds.makeBatch(size: 37, length: 20, seed: seed, purpose: .trainingBatch, step: 9, dtype: .float32, lanes: true)
                }
                #expect(LDSBatchTests.bits(b.inputs) == LDSBatchTests.bits(reference.inputs), "\(sampler) \(workers) workers")
                #expect(LDSBatchTests.bits(b.targets) == LDSBatchTests.bits(reference.targets), "\(sampler) \(workers) workers")
            }
        }
    }
}
