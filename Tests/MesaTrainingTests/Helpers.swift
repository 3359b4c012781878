import Foundation
import MesaTraining

func temporaryDirectory(_ name: String = "run") -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u.appendingPathComponent(name)
}

/// A small, fast configuration of linear-2: 4 sequences of length 12.
func smallConfig(steps: Int = 12) throws -> TrainConfig {
    var c = try Presets.config("linear-2")
    c.steps = steps
    c.batchSize = 8
    c.length = 12
    c.evalBatchSize = 16
    c.evalEvery = 4
    c.checkpointEvery = 4
    c.schedule.warmupSteps = 3
    c.schedule.peak = 1e-2
    return c
}
