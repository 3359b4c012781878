import Foundation
import Testing
import MesaAnalysis
import MesaExperiments
import MesaTraining

/// A small, fast configuration of linear-2: 8 sequences of length 12, `steps` updates.
func tinyConfig(steps: Int = 8) throws -> TrainConfig {
    var c = try Presets.config("linear-2")
    c.steps = steps
    c.batchSize = 8
    c.length = 12
    c.evalBatchSize = 8
    c.evalEvery = 4
    c.checkpointEvery = 4
    return c
}

/// The one rule for every finding's runs: reuse what is finished, resume what is not, refuse what is
/// something else.
@Suite struct RunCacheTests {
    struct Bytes: Equatable {
        let config: Data, metrics: Data, checkpoint: Data
        init(_ dir: RunDirectory) throws {
            config = try Data(contentsOf: dir.configURL)
            metrics = try Data(contentsOf: dir.metricsURL)
            checkpoint = try Data(contentsOf: dir.checkpointURL)
        }
    }

    @Test func aFinishedRunIsReusedWithoutTraining() throws {
        let cache = RunCache(root: temporaryDirectory("runs"), progress: false)
        let c = try tinyConfig()
        let dir = try cache.train(c, name: "r", label: "test")
        let before = try Bytes(dir)
        let modified = try FileManager.default.attributesOfItem(atPath: dir.checkpointURL.path)[.modificationDate] as? Date
        var polled = 0
        let again = try cache.train(c, name: "r", label: "test", shouldStop: { polled += 1; return false })
        #expect(again.url.path == dir.url.path)
        #expect(polled == 0, "the finished run was trained again")
        #expect(try Bytes(dir) == before)
        #expect(try FileManager.default.attributesOfItem(atPath: dir.checkpointURL.path)[.modificationDate] as? Date == modified)
    }

    /// Interrupted after 3 of 8 steps, the next call trains only the 5 left and ends with the bytes of a
    /// run that went straight through.
    @Test func anInterruptedRunIsResumed() throws {
        let c = try tinyConfig()
        let straight = try RunCache(root: temporaryDirectory("runs"), progress: false).train(c, name: "r", label: "test")

        let cache = RunCache(root: temporaryDirectory("runs"), progress: false)
        var polled = 0
        do {
            try cache.train(c, name: "r", label: "test", shouldStop: { polled += 1; return polled > 3 })
            Issue.record("an interrupted run was reported as finished")
        } catch let e as ReproductionError {
            #expect("\(e)".contains("interrupted"))
        }
        let dir = RunDirectory(cache.root.appendingPathComponent("r"))
        #expect(try dir.readCheckpoint().metadata["step"] == "3")
        polled = 0
        try cache.train(c, name: "r", label: "test", shouldStop: { polled += 1; return false })
        #expect(polled == 5)
        #expect(try Bytes(dir) == Bytes(straight))
    }

    @Test func anotherConfigurationIsRefusedUnlessFresh() throws {
        let root = temporaryDirectory("runs")
        let c = try tinyConfig(steps: 4)
        try RunCache(root: root, progress: false).train(c, name: "r", label: "test")
        var other = c
        other.seed = 7
        do {
            try RunCache(root: root, progress: false).train(other, name: "r", label: "test")
            Issue.record("a run of another configuration was reused")
        } catch let e as ReproductionError {
            #expect("\(e)".contains(root.appendingPathComponent("r").path) && "\(e)".contains("--fresh"))
            #expect("\(e)".contains("seed: 0 → 7"), "the differing field is named: \(e)")
        }
        let dir = try RunCache(root: root, fresh: true, progress: false).train(other, name: "r", label: "test")
        #expect(try dir.readConfig() == other)
    }

    /// Results computed in one go (F9's descents): computed once, then read back; another configuration
    /// under the same name is refused.
    @Test func resultsAreComputedOnceAndReadBack() throws {
        let root = temporaryDirectory("runs")
        var computed = 0
        func result(_ config: [Int], fresh: Bool = false) throws -> [Double] {
            try RunCache(root: root, fresh: fresh, progress: false).result(config, name: "r", label: "test") {
                computed += 1
                return config.map { Double($0) / 3 }
            }
        }
        #expect(try result([1, 2]) == [1.0 / 3, 2.0 / 3])
        #expect(try result([1, 2]) == [1.0 / 3, 2.0 / 3])
        #expect(computed == 1)
        #expect(throws: ReproductionError.self) { try result([1, 3]) }
        #expect(try result([1, 3], fresh: true) == [1.0 / 3, 1])
        #expect(computed == 2)
    }

    /// `LoadedRun` gives analyses the checkpoint's parameters and step, as the run directory holds them.
    @Test func aLoadedRunHoldsTheCheckpoint() throws {
        let dir = try RunCache(root: temporaryDirectory("runs"), progress: false).train(tinyConfig(steps: 4), name: "r", label: "test")
        let run = try LoadedRun(directory: dir)
        #expect(run.step == 4)
        #expect(run.config == (try tinyConfig(steps: 4)))
        let checkpoint = try dir.readCheckpoint().tensors
        for (name, t) in run.model.stateTensors {
            #expect(t.doubles == checkpoint[name]?.doubles, "\(name) differs from the checkpoint")
        }
        #expect(throws: (any Error).self) { try LoadedRun(directory: RunDirectory(temporaryDirectory("none"))) }
    }
}
