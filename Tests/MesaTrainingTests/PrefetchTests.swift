import Testing
import MesaTensor
import MesaTraining

/// `trainStep` draws the batch of step k + 1 on another thread while step k runs (issue 14):
/// the same numbers as drawing every batch when it is needed.
@Suite struct PrefetchTests {
    @Test func prefetchedStepsAreTheStepsOnFreshBatches() throws {
        let c = try smallConfig(steps: 5)
        let prefetching = try Trainer(config: c), plain = try Trainer(config: c)
        for k in 0..<5 {
            let a = try prefetching.trainStep()
            let b = try plain.update(on: plain.trainingBatch(step: k))
            #expect(a.step == b.step && a.loss.bitPattern == b.loss.bitPattern
                    && a.gradientNorm.bitPattern == b.gradientNorm.bitPattern)
        }
        let x = prefetching.checkpoint().tensors, y = plain.checkpoint().tensors
        #expect(x.keys.sorted() == y.keys.sorted())
        for (name, t) in x { #expect(t.doubles == y[name]!.doubles, "\(name)") }
    }

    /// A step taken by `update(on:)` in between makes the prefetched batch stale: it is not used.
    @Test func aStalePrefetchIsNotUsed() throws {
        let c = try smallConfig(steps: 6)
        let mixed = try Trainer(config: c), plain = try Trainer(config: c)
        _ = try mixed.trainStep()                                   // prefetches step 1
        _ = try mixed.update(on: mixed.trainingBatch(step: 1))     // takes step 1 itself
        let r = try mixed.trainStep()                               // step 2: must draw (seed, 2)
        for k in 0..<3 { _ = try plain.update(on: plain.trainingBatch(step: k)) }
        #expect(r.step == 3)
        #expect(mixed.evaluate().bitPattern == plain.evaluate().bitPattern)
    }
}
