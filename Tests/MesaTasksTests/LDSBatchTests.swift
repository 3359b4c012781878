import Testing
import MesaTasks
import MesaTensor

/// The fast LDS batch (`LinearDynamicalSystem.makeBatch`) against the reference
/// (`referenceBatch`: one `sequence(count:stream:)` per sequence), byte for byte.
@Suite struct LDSBatchTests {
    static func bits(_ t: Tensor) -> [UInt64] {
        t.dtype == .float32 ? t.withUnsafeBufferPointer(as: Float.self) { $0.map { UInt64($0.bitPattern) } }
                            : t.withUnsafeBufferPointer(as: Double.self) { $0.map { $0.bitPattern } }
    }

    @Test(arguments: [
        (LinearDynamicalSystem(), 256, 50, DType.float32),
        (LinearDynamicalSystem(dimension: 5), 7, 9, .float64),
        (LinearDynamicalSystem(dimension: 3, noise: 50, stateClip: 2), 5, 30, .float64),  // clipped
        (LinearDynamicalSystem(dimension: 1, noise: 0), 3, 4, .float32),
        (LinearDynamicalSystem(dimension: 10, fixedTeacher: 11), 6, 20, .float64),
        (LinearDynamicalSystem(dimension: 4), 4, 1, .float64),
    ])
    func fastBatchIsTheReferenceBatch(lds: LinearDynamicalSystem, size: Int, length: Int, dtype: DType) {
        for (purpose, step) in [(RandomPurpose.trainingBatch, 3), (.testBatch, 0)] {
            let fast = lds.batch(size: size, length: length, seed: 5, purpose: purpose, step: step, dtype: dtype)
            let reference = lds.referenceBatch(size: size, length: length, seed: 5, purpose: purpose, step: step, dtype: dtype)
            #expect(fast.inputs.shape == reference.inputs.shape && fast.inputs.dtype == dtype)
            #expect(Self.bits(fast.inputs) == Self.bits(reference.inputs))
            #expect(Self.bits(fast.targets) == Self.bits(reference.targets))
        }
    }

    /// The bytes of a training batch as the implementation before issue 14 drew them
    /// (FNV-1a of the Float32 inputs and targets of linear-2's batch, seed 0, step 7):
    /// a change to the random streams, the QR or the recurrence that alters any bit shows here.
    @Test func batchBytesArePinned() {
        let lds = LinearDynamicalSystem()
        func hash(_ batch: SequenceBatch) -> UInt64 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for t in [batch.inputs, batch.targets] {
                for word in Self.bits(t) {
                    for k in 0..<4 { h = (h ^ ((word >> (8 * UInt64(k))) & 0xFF)) &* 0x100_0000_01B3 }
                }
            }
            return h
        }
        let fast = hash(lds.batch(size: 256, length: 50, seed: 0, purpose: .trainingBatch, step: 7))
        let reference = hash(lds.referenceBatch(size: 256, length: 50, seed: 0, purpose: .trainingBatch, step: 7))
        #expect(fast == Self.pinnedHash, "fast batch hash \(String(fast, radix: 16))")
        #expect(reference == Self.pinnedHash, "reference batch hash \(String(reference, radix: 16))")
    }

    static let pinnedHash: UInt64 = 0x392D_23CE_1B38_71D6
}
