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

    /// Once warm, a training step takes no fresh tensor buffer: every one comes from the pool
    /// (issue 14, "no allocation inside the training loop after the first step"). Sizes unlike
    /// any other test's keep concurrent tests from emptying this test's size classes.
    @Test func warmStepsAllocateNothing() throws {
        var c = try smallConfig(steps: 8)
        c.batchSize = 7
        c.length = 11
        let trainer = try Trainer(config: c)
        let batch = trainer.trainingBatch(step: 0)
        let firstBefore = TensorAllocations.countOnThisThread
        _ = try trainer.update(on: batch)
        let first = TensorAllocations.countOnThisThread - firstBefore
        _ = try trainer.update(on: batch)
        var counts: [Int] = []
        for _ in 0..<4 {
            let before = TensorAllocations.countOnThisThread
            _ = try trainer.update(on: batch)
            counts.append(TensorAllocations.countOnThisThread - before)
        }
        #expect(first > 0)  // the first step does allocate: the count sees buffers
        #expect(counts == [0, 0, 0, 0], "fresh tensor buffers per warm step: \(counts)")
    }
}
