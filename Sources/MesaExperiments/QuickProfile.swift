import MesaTraining

extension TrainConfig {
    /// The quick profile's training budget shared by the findings that train model families
    /// (F2, F4): batch 64 and 2000 steps with a 200-step warm-up to 1e-3, minutes per model
    /// on a 2-core CPU. Each finding's report lists these against its paper profile. The batch
    /// of 64 runs in at most 4 micro-batches: pieces of 16 sequences, as linear-2's preset cuts
    /// its 256 (16 pieces of 4 sequences measured 1.09× slower).
    mutating func useQuickProfile() {
        steps = 2000
        batchSize = 64
        microBatches = min(microBatches, 4)
        evalBatchSize = 512
        evalEvery = 200
        checkpointEvery = 500
        schedule = .init(peak: 1e-3, warmupSteps: 200, horizon: 1800)
    }
}
