import Testing
import MesaTensor
import MesaTraining

/// The tensor-buffer counter behind `mesa bench`'s "tensor buffers allocated per step" (issue 14).
@Suite struct AllocationTests {
    @Test func everyTensorBufferIsCounted() {
        let (c0, b0) = (TensorAllocations.count, TensorAllocations.bytes)
        let t = Tensor(zeros: [3, 5], dtype: .float32)
        let u = Tensor(zeros: [7], dtype: .float64)
        // Other tests may allocate at the same time: at least these two, with at least their bytes.
        #expect(TensorAllocations.count - c0 >= 2)
        #expect(TensorAllocations.bytes - b0 >= 15 * 4 + 7 * 8)
        _ = (t, u)
    }

    /// Once warm, every update on a batch allocates the same buffers on the calling thread: the
    /// count a step reports is a property of the step, not of when it was measured.
    @Test func stepsAllocateTheSameCountOnceWarm() throws {
        let c = try smallConfig(steps: 6)
        let trainer = try Trainer(config: c)
        let batch = trainer.trainingBatch(step: 0)
        _ = try trainer.update(on: batch)
        var counts: [Int] = []
        for _ in 0..<3 {
            let before = TensorAllocations.countOnThisThread
            _ = try trainer.update(on: batch)
            counts.append(TensorAllocations.countOnThisThread - before)
        }
        #expect(counts[0] > 0)
        #expect(counts.allSatisfy { $0 == counts[0] }, "\(counts)")
    }
}
