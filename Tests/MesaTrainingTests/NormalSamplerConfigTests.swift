import Foundation
import Testing
import MesaTasks
import MesaTensor
import MesaTraining

/// `task.normals`, the recorded choice of normal sampler (`NormalSampler`): the presets of kind
/// lds / lds-fixed write "vectorized", a config.json without the field (every run written before)
/// means the version-1 stream and stays byte for byte as it was, a change of kind follows the
/// sampler, a bad value or a kind without the stream is refused by name, and a resume cannot
/// change it.
@Suite struct NormalSamplerConfigTests {
    @Test func presetsWriteVectorizedAndAbsentMeansVersionOne() throws {
        let base = try Presets.config("linear-2")
        #expect(base.task.normals == "vectorized")
        let json = base.jsonString()
        #expect(json.contains("\"normals\" : \"vectorized\""))
        #expect((try base.task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .vectorized)
        try base.validate()
        for name in Presets.names {
            let c = try Presets.config(name)
            #expect(c.task.normals == TaskConfig.defaultNormals(for: c.task.kind), "\(name)")
        }

        // An older run's config.json (no field) reads as the version-1 stream and writes back unchanged.
        var old = base
        old.task.normals = nil
        let oldJSON = old.jsonString()
        #expect(!oldJSON.contains("normals"))
        let dir = RunDirectory(temporaryDirectory())
        try dir.writeConfig(old)
        #expect(!(try String(contentsOf: dir.configURL, encoding: .utf8)).contains("normals"))
        let read = try dir.readConfig()
        #expect(read == old && read.jsonString() == oldJSON)
        #expect((try read.task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .boxMuller)

        // Written out explicitly, "box-muller" is accepted and kept.
        let explicit = try base.setting("task.normals", to: "box-muller")
        try dir.writeConfig(explicit)
        #expect((try dir.readConfig().task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .boxMuller)
    }

    @Test func aChangeOfKindFollowsTheSampler() throws {
        let base = try Presets.config("linear-2")
        let fixed = try base.setting("task.kind", to: "lds-fixed")
        #expect(fixed.task.normals == "vectorized")
        #expect((try fixed.task.makeTask(seed: 0) as? LinearDynamicalSystem)?.normals == .vectorized)
        for kind in ["lds-partial", "lds-nonlinear", "lds-contracting"] {
            let c = try base.setting("task.kind", to: kind)
            #expect(c.task.normals == nil, "\(kind)")
            #expect(try c.task.normalSampler() == .boxMuller, "\(kind)")
            var inCode = base.task
            inCode.kind = kind
            #expect(inCode.normals == nil, "\(kind), set in code")
        }
        // "box-muller" is kept through a change of kind.
        let bm = try base.setting("task.normals", to: "box-muller").setting("task.kind", to: "lds-partial")
        #expect(bm.task.normals == "box-muller")
    }

    @Test func badValuesAreRefusedByName() throws {
        let base = try Presets.config("linear-2")
        let cases = [try base.setting("task.normals", to: "ziggurat"),
                     try base.setting("task.kind", to: "lds-partial").setting("task.normals", to: "vectorized")]
        for c in cases {
            do { try c.validate(); Issue.record("accepted task.normals = \(c.task.normals ?? "nil") for \(c.task.kind)") } catch {
                #expect("\(error)".contains("task.normals"), "\(error)")
            }
        }
    }

    @Test func aResumeCannotChangeTheSampler() throws {
        let c = try smallConfig(steps: 4)
        #expect(c.task.normals == "vectorized")
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        let before = try Data(contentsOf: dir.checkpointURL)
        var other = try c.setting("task.normals", to: "box-muller")
        other.steps = 8
        do {
            _ = try TrainingRun.run(config: other, in: dir, resume: true, progress: false)
            Issue.record("resumed with another normal sampler")
        } catch {
            #expect("\(error)".contains("task.normals"), "\(error)")
        }
        #expect(try Data(contentsOf: dir.checkpointURL) == before)

        // A version-1 run resumes as itself, and learns from other batches than the vectorized one's.
        let odir = RunDirectory(temporaryDirectory())
        var v1 = c
        v1.task.normals = nil
        _ = try TrainingRun.run(config: v1, in: odir, resume: false, progress: false)
        var longer = v1
        longer.steps = 6
        _ = try TrainingRun.run(config: longer, in: odir, resume: true, progress: false)
        #expect(try odir.readConfig().task.normals == nil)
        #expect(try Data(contentsOf: odir.checkpointURL) != before)
    }
}
