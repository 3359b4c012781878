import Foundation
import Testing
import MesaTasks
import MesaTensor
import MesaTraining

/// `task.normals`, the recorded choice of normal sampler (`NormalSampler`): absent means the
/// default stream, `--set task.normals=vectorized` selects the other, config.json keeps it, a
/// bad value or a kind without the stream is refused by name, and a resume cannot change it.
@Suite struct NormalSamplerConfigTests {
    @Test func absentMeansTheDefaultAndVectorizedRoundTrips() throws {
        let base = try Presets.config("linear-2")
        let json = base.jsonString()
        #expect(!json.contains("normals"), "the default stream writes no field: older run bytes unchanged")
        let lds = try #require(try base.task.makeTask(seed: 0) as? LinearDynamicalSystem)
        #expect(lds.normals == .boxMuller)

        let v = try base.setting("task.normals", to: "vectorized")
        #expect(v.task.normals == "vectorized")
        try v.validate()
        #expect((try v.task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .vectorized)
        #expect((try v.setting("task.kind", to: "lds-fixed").task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .vectorized)
        let dir = RunDirectory(temporaryDirectory())
        try dir.writeConfig(v)
        let read = try dir.readConfig()
        #expect(read == v && read.jsonString().contains("\"normals\" : \"vectorized\""))

        // Written out explicitly, the default name is accepted too.
        let explicit = try base.setting("task.normals", to: "box-muller")
        try dir.writeConfig(explicit)
        #expect((try dir.readConfig().task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .boxMuller)
    }

    @Test func badValuesAreRefusedByName() throws {
        let base = try Presets.config("linear-2")
        for (path, value) in [("task.normals", "ziggurat"), ("task.kind", "lds-partial")] {
            var c = try base.setting("task.normals", to: "vectorized")
            c = try c.setting(path, to: value)
            do { try c.validate(); Issue.record("accepted \(path) = \(value) with vectorized normals") } catch {
                #expect("\(error)".contains("task.normals"), "\(error)")
            }
        }
    }

    @Test func aResumeCannotChangeTheSampler() throws {
        let c = try smallConfig(steps: 4)
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        let before = try Data(contentsOf: dir.checkpointURL)
        var other = try c.setting("task.normals", to: "vectorized")
        other.steps = 8
        do {
            _ = try TrainingRun.run(config: other, in: dir, resume: true, progress: false)
            Issue.record("resumed with another normal sampler")
        } catch {
            #expect("\(error)".contains("task.normals"), "\(error)")
        }
        #expect(try Data(contentsOf: dir.checkpointURL) == before)

        // A vectorized run resumes as itself, and learns from other batches than the default's.
        let vdir = RunDirectory(temporaryDirectory())
        let v = try c.setting("task.normals", to: "vectorized")
        _ = try TrainingRun.run(config: v, in: vdir, resume: false, progress: false)
        var longer = v
        longer.steps = 6
        _ = try TrainingRun.run(config: longer, in: vdir, resume: true, progress: false)
        #expect(try vdir.readConfig().task.normals == "vectorized")
        #expect(try Data(contentsOf: vdir.checkpointURL) != before)
    }
}
