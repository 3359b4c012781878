import Testing
import MesaTensor
import MesaTraining

/// The tensor-buffer counter behind `mesa bench`'s "tensor buffers allocated per step" (issue 14).
@Suite struct AllocationTests {
    /// A tensor of a size the pool holds no free buffer of is a fresh buffer, counted with its
    /// bytes (rounded up to 64). Element counts no other test uses, so no freed buffer fits.
    @Test func freshBuffersAreCounted() {
        let (c0, b0) = (TensorAllocations.countOnThisThread, TensorAllocations.bytes)
        let t = Tensor(zeros: [3, 5_003], dtype: .float32)
        let u = Tensor(zeros: [7_001], dtype: .float64)
        #expect(TensorAllocations.countOnThisThread - c0 == 2)
        // Other tests may allocate at the same time: at least these bytes.
        #expect(TensorAllocations.bytes - b0 >= 15_009 * 4 + 7_001 * 8)
        _ = (t, u)
    }

    /// Once warm, a training step takes no fresh tensor buffer: every one comes from the pool
    /// (issue 14, "no allocation inside the training loop after the first step"). Sizes unlike
    /// any other test's keep concurrent tests from emptying this test's size classes. On one
    /// worker, so that the step's micro-batches run on this thread, where the count looks
    /// (`mesa bench` counts every thread's: 0.0 per warm step on two threads, BENCHMARKS.md).
    @Test(arguments: [1, 3])
    func warmStepsAllocateNothing(microBatches: Int) throws {
        var c = try smallConfig(steps: 8)
        c.batchSize = 7
        c.length = 11
        c.microBatches = microBatches
        try Parallel.withWorkers(1) { try Self.warmSteps(c) }
    }

    static func warmSteps(_ c: TrainConfig) throws {
        let trainer = try Trainer(config: c)
        let batch = trainer.trainingBatch(step: 0)
        let firstBefore = TensorAllocations.countOnThisThread
        _ = try trainer.update(on: batch)
        let first = TensorAllocations.countOnThisThread - firstBefore
        // Counted over four warm steps in which the shared pool released no size class: the pool
        // holds at most 1 GiB in 512 sizes and releases the least recently used first, so other
        // tests running at the same time can release this test's sizes, whose next request is
        // then a fresh buffer that says nothing about the step. After such a window, warm up and
        // count again (at most eight windows).
        var counts: [Int] = []
        for _ in 0..<8 {
            _ = try trainer.update(on: batch)
            let releases = TensorPool.shared.releases
            counts = []
            for _ in 0..<4 {
                let before = TensorAllocations.countOnThisThread
                _ = try trainer.update(on: batch)
                counts.append(TensorAllocations.countOnThisThread - before)
            }
            if TensorPool.shared.releases == releases { break }
        }
        #expect(first > 0)  // the first step does allocate: the count sees buffers
        #expect(counts == [0, 0, 0, 0], "fresh tensor buffers per warm step: \(counts)")
    }
}
