import Foundation
import Testing
import MesaNN
import MesaTensor
import MesaTraining

@Suite struct ConfigTests {
    @Test func presetsAreValidAndRoundTripThroughJSON() throws {
        for name in Presets.names {
            let c = try Presets.config(name)
            try c.validate()
            let back = try JSONDecoder().decode(TrainConfig.self, from: JSONEncoder().encode(c))
            #expect(back == c)
        }
        let l2 = try Presets.config("linear-2")
        #expect(l2.model.heads == 4 && l2.model.keySize == 20 && l2.model.width == 40 && l2.batchSize == 256)
        #expect(l2.length == 50 && l2.model.activationClip == 1.5 && l2.schedule.peak == 3e-4)
        #expect(l2.schedule.warmupSteps == 1000 && l2.steps == 2000)
    }

    @Test func unknownPresetNamesTheKnownOnes() {
        do {
            _ = try Presets.config("linear-9")
            Issue.record("accepted an unknown preset")
        } catch let e as ConfigError {
            #expect(e.description.contains("linear-9") && e.description.contains("linear-2"))
        } catch { Issue.record("\(error)") }
    }

    @Test func settingFields() throws {
        let c = try Presets.config("linear-2")
        #expect(try c.setting("model.heads", to: "2").model.heads == 2)
        #expect(try c.setting("schedule.peak", to: "0.001").schedule.peak == 0.001)
        #expect(try c.setting("tokens", to: "constructed-masked").tokens == .constructedMasked)
        #expect(try c.setting("model.activationClip", to: "4").model.activationClip == 4)
        #expect(try c.setting("clipping", to: #"{"kind":"globalNorm","value":2}"#).clipping == .globalNorm(2))
        #expect(throws: ConfigError.self) { try c.setting("model.hedas", to: "2") }
        #expect(throws: ConfigError.self) { try c.setting("model.heads", to: "two") }
        #expect(throws: ConfigError.self) { try c.setting("tokens", to: "bogus") }
    }

    @Test func invalidValuesAreRejectedWithTheFieldName() throws {
        var c = try Presets.config("linear-2")
        for (edit, word) in [({ (c: inout TrainConfig) in c.batchSize = 0 }, "batchSize"),
                             ({ $0.steps = -1 }, "steps"),
                             ({ $0.schedule.peak = -1 }, "schedule.peak"),
                             ({ $0.model.width = 36 }, "model.width"),
                             ({ $0.task.kind = "nope" }, "nope"),
                             ({ $0.model.dimension = 5 }, "dimension")] as [((inout TrainConfig) -> Void, String)] {
            var bad = c
            edit(&bad)
            do {
                try bad.validate()
                Issue.record("accepted a bad \(word)")
            } catch {
                #expect("\(error)".contains(word), "message '\(error)' does not name \(word)")
            }
        }
        c.tokens = .raw
        #expect(throws: ConfigError.self) { try c.validate() }
    }

    /// A config.json with a huge task.dimension (the input ConfigFuzz feeds) made
    /// validation compute 4n and trap on the overflow instead of refusing the file.
    @Test func hugeDimensionsAreRefusedWithoutOverflow() throws {
        var c = try Presets.config("linear-2")
        c.task.dimension = Int.max / 2
        c.model.dimension = Int.max / 2
        c.model.width = Int.max
        do { try c.validate(); Issue.record("accepted task.dimension \(c.task.dimension)") } catch {
            #expect("\(error)".contains("model.width") && "\(error)".contains("4n"), "\(error)")
        }
        let dir = RunDirectory(temporaryDirectory())
        try dir.writeConfig(c)
        #expect(throws: (any Error).self) { try dir.readConfig().validate() }
    }

    @Test func anExistingRunIsNotOverwritten() throws {
        let c = try smallConfig(steps: 4)
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        let before = try Data(contentsOf: dir.checkpointURL)
        var other = c
        other.seed = 9
        #expect(throws: TrainingError.self) { try TrainingRun.run(config: other, in: dir, resume: false, progress: false) }
        #expect(throws: TrainingError.self) { try TrainingRun.run(config: other, in: dir, resume: true, progress: false) }
        #expect(try Data(contentsOf: dir.checkpointURL) == before)
        #expect(try dir.readConfig() == c)
    }

    @Test func corruptOrMissingCheckpointsAreReportedAndLeftAlone() throws {
        let c = try smallConfig(steps: 4)
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        let garbage = Data("not a checkpoint at all".utf8)
        try garbage.write(to: dir.checkpointURL)
        do {
            _ = try TrainingRun.run(config: c, in: dir, resume: true, progress: false)
            Issue.record("resumed from a corrupt checkpoint")
        } catch {
            #expect("\(error)".contains("checkpoint.safetensors"))
        }
        #expect(try Data(contentsOf: dir.checkpointURL) == garbage)
        // A checkpoint with a missing tensor.
        var file = try Trainer(config: c).checkpoint()
        file.tensors.removeValue(forKey: "layers.0.attn.W_Q")
        try Safetensors.write(file, to: dir.checkpointURL)
        #expect(throws: ModelError.self) { try TrainingRun.run(config: c, in: dir, resume: true, progress: false) }
        // No run at all.
        #expect(throws: TrainingError.self) {
            try TrainingRun.run(config: c, in: RunDirectory(temporaryDirectory()), resume: true, progress: false)
        }
    }
}
