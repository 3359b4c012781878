import Foundation
import MesaNN
import MesaTensor
import Testing
import MesaTraining

/// Issue 9: what a run does with bad input, a foreign checkpoint, a resume that changes things,
/// and a slow run that is killed.
@Suite struct RunSafetyTests {
    @Test func everyFieldIsCheckedWithItsNameAndRange() throws {
        let c = try smallConfig()
        for (edit, word) in [({ (c: inout TrainConfig) in c.clipping = .globalNorm(-1) }, "clipping.value"),
                             ({ $0.clipping = .elementwise(0) }, "clipping.value"),
                             ({ $0.optimizer.beta1 = 1.5 }, "optimizer.beta1"),
                             ({ $0.optimizer.beta2 = 1 }, "optimizer.beta2"),
                             ({ $0.optimizer.epsilon = 0 }, "optimizer.epsilon"),
                             ({ $0.optimizer.weightDecay = -0.1 }, "optimizer.weightDecay"),
                             ({ $0.schedule.final = -1 }, "schedule.final"),
                             ({ $0.schedule.horizon = -1 }, "schedule.horizon"),
                             ({ $0.evalEvery = 0 }, "evalEvery"),
                             ({ $0.checkpointSeconds = 0 }, "checkpointSeconds")] as [((inout TrainConfig) -> Void, String)] {
            var bad = c
            edit(&bad)
            #expect(throws: ConfigError.self, "accepted a bad \(word)") { try bad.validate() }
            do { try bad.validate() } catch { #expect("\(error)".contains(word), "'\(error)' does not name \(word)") }
        }
        for path in ["", "=", ".heads", "model..heads"] {
            do {
                _ = try c.setting(path, to: "5")
                Issue.record("--set \(path)=5 was accepted")
            } catch {
                #expect("\(error)".contains("field"), "'\(error)'")
            }
        }
    }

    @Test func unknownFieldsInConfigJSONAreRefusedByName() throws {
        let c = try smallConfig()
        let dir = RunDirectory(temporaryDirectory())
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        json["stpes"] = 5
        var model = json["model"] as! [String: Any]
        model["hedas"] = 2
        json["model"] = model
        try JSONSerialization.data(withJSONObject: json).write(to: dir.configURL)
        do {
            _ = try dir.readConfig()
            Issue.record("unknown fields were ignored")
        } catch {
            #expect("\(error)".contains("stpes") && "\(error)".contains("model.hedas"), "\(error)")
        }
        // A config.json written before a field existed still loads, with the field's default.
        json.removeValue(forKey: "stpes")
        json.removeValue(forKey: "checkpointSeconds")
        model.removeValue(forKey: "hedas")
        json["model"] = model
        try JSONSerialization.data(withJSONObject: json).write(to: dir.configURL)
        #expect(try dir.readConfig() == c)
    }

    @Test func aRunThatDoesNotFitInMemoryIsRefusedBeforeAnythingIsWritten() throws {
        var c = try smallConfig()
        #expect(throws: Never.self) { try MemoryEstimate(c, splitsBatches: true).check(available: 1e9) }
        c.batchSize = 100_000_000
        let dir = RunDirectory(temporaryDirectory())
        do {
            _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
            Issue.record("a run of \(MemoryEstimate.format(MemoryEstimate(c, splitsBatches: true).bytes)) started")
        } catch {
            #expect("\(error)".contains("needs about") && "\(error)".contains("available"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.url.path))
        c = try smallConfig()
        c.length = 10_000_000   // linear layers keep nothing T×T beyond the chunked form's switch: activations must not fit
        #expect(throws: TrainingError.self) { try MemoryEstimate(c, splitsBatches: true).check(available: 64 * 1_073_741_824) }
        // Sizes as large as a config.json can write are refused, not a trap.
        for (batch, held, pieces) in [(Int.max, Int.max, Int.max), (Int.max, 1, 7), (1, Int.max, Int.max), (Int.max - 1, 3, 2)] {
            c = try smallConfig()
            (c.batchSize, c.evalBatchSize, c.microBatches) = (batch, held, pieces)
            for split in [true, false] {
                for workers in [1, 2, Int.max] {
                    #expect(throws: TrainingError.self) {
                        try MemoryEstimate(c, splitsBatches: split, workers: workers).check(available: 64 * 1_073_741_824)
                    }
                }
            }
        }
    }

    /// Resume without a checkpoint (killed before the first one) starts again at step 0 with
    /// one step-0 row, not two.
    @Test func resumeWithoutACheckpointAddsNoDuplicateRow() throws {
        let c = try smallConfig(steps: 4)
        let dir = RunDirectory(temporaryDirectory())
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        try dir.writeConfig(c)
        try (RunDirectory.metricsHeader + "\n0,,,,1.5\n").write(to: dir.metricsURL, atomically: true, encoding: .utf8)
        _ = try TrainingRun.run(config: c, in: dir, resume: true, progress: false)
        _ = try TrainingRun.run(config: c, in: dir, resume: true, progress: false)
        #expect(try dir.readMetrics().map(\.step) == Array(0...4))
    }

    @Test func aForeignOrEditedCheckpointIsRefusedAndNamesWhatDiffers() throws {
        let c = try smallConfig(steps: 8)
        let a = RunDirectory(temporaryDirectory("a")), b = RunDirectory(temporaryDirectory("b"))
        var other = c
        other.seed = 7
        var stopAt4: () -> Bool { var n = 0; return { n += 1; return n > 4 } }
        _ = try TrainingRun.run(config: c, in: a, resume: false, progress: false, shouldStop: stopAt4)
        _ = try TrainingRun.run(config: other, in: b, resume: false, progress: false, shouldStop: stopAt4)
        // b's checkpoint copied into a.
        let own = try Data(contentsOf: a.checkpointURL)
        try FileManager.default.removeItem(at: a.checkpointURL)
        try FileManager.default.copyItem(at: b.checkpointURL, to: a.checkpointURL)
        do {
            _ = try TrainingRun.run(config: c, in: a, resume: true, progress: false)
            Issue.record("resumed from another run's checkpoint")
        } catch {
            #expect("\(error)".contains("seed: 7 → 0"), "\(error)")
        }
        try own.write(to: a.checkpointURL)
        // A resume that changes a field names it, and leaves the run as it was.
        do {
            _ = try TrainingRun.run(config: other, in: a, resume: true, progress: false)
            Issue.record("resumed with another seed")
        } catch {
            #expect("\(error)".contains("seed: 0 → 7"), "\(error)")
        }
        // Fewer steps than done is refused; more is recorded in config.json.
        var shorter = c
        shorter.steps = 3
        #expect(throws: TrainingError.self) { try TrainingRun.run(config: shorter, in: a, resume: true, progress: false) }
        #expect(try a.readConfig().steps == 8 && Data(contentsOf: a.checkpointURL) == own)
        var longer = c
        longer.steps = 10
        let s = try TrainingRun.run(config: longer, in: a, resume: true, progress: false)
        #expect(try s.steps == 10 && a.readConfig().steps == 10)
    }

    /// With `checkpointSeconds` tiny and `checkpointEvery` huge, a checkpoint is written after
    /// every step anyway: a killed slow run loses at most that much time.
    @Test func checkpointsAreAlsoWrittenOnATimeInterval() throws {
        var c = try smallConfig(steps: 6)
        c.checkpointEvery = 1_000_000
        c.checkpointSeconds = 1e-9
        let dir = RunDirectory(temporaryDirectory())
        var seen: [String] = []
        var calls = 0
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false, shouldStop: {
            calls += 1
            if calls > 1 { seen.append((try? dir.readCheckpoint().metadata["step"]) ?? "none") }
            return false
        })
        #expect(seen == ["1", "2", "3", "4", "5"])
    }

    @Test func aLockedRunDirectoryIsRefused() throws {
        let c = try smallConfig(steps: 4)
        let dir = RunDirectory(temporaryDirectory())
        let held = try RunLock(dir.url)
        do {
            _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
            Issue.record("trained in a locked directory")
        } catch {
            #expect("\(error)".contains("in use"), "\(error)")
        }
        #expect(!dir.exists)
        withExtendedLifetime(held) {}
    }
}

/// Issue 9, "Also": a preset named after a paper configuration is that configuration.
@Suite struct PaperPresetTests {
    @Test func presetsUseTheReferenceScheduleAndArchitecture() throws {
        for name in Presets.names {
            let c = try Presets.config(name)
            #expect(c.schedule == WarmupCosineSchedule(peak: 3e-4, warmupSteps: 1000, horizon: 19_000, final: 1e-5), "\(name)")
            #expect(c.schedule(20_000) == 1e-5 && c.schedule(1000) == 3e-4, "\(name)")
            #expect(c.model.activationClip == 1.5 && !c.model.readoutNorm && c.model.layerNormEpsilon == 1e-6, "\(name)")
            let model = try Transformer(config: c.model, seed: 0)
            #expect(!model.parameters.contains { $0.name.hasPrefix("ln_f.") }, "\(name) has a LayerNorm before the read-out")
        }
    }

    /// A model written before the switches existed loads as it trained: read-out LayerNorm, ε 1e-5.
    @Test func oldModelConfigurationsKeepTheirArchitecture() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Presets.config("softmax-7").model)) as! [String: Any]
        json.removeValue(forKey: "readoutNorm")
        json.removeValue(forKey: "layerNormEpsilon")
        let old = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.readoutNorm && old.layerNormEpsilon == 1e-5)
        #expect(try Transformer(config: old, seed: 0).parameters.contains { $0.name == "ln_f.gain" })
    }

    /// ε reaches the kernel: with a row of variance 1e-6, ε 1e-6 and ε 1e-5 give different outputs.
    @Test func layerNormEpsilonIsUsed() {
        let x = Tensor(shape: [1, 2], [0.001, -0.001], dtype: .float64)
        let gain = Tensor(shape: [2], repeating: 1, dtype: .float64)
        let a = layerNormForward(x, gain: gain, bias: nil, epsilon: 1e-6).y.doubles[0]
        let b = layerNormForward(x, gain: gain, bias: nil, epsilon: 1e-5).y.doubles[0]
        #expect(abs(a - 1 / 2.0.squareRoot()) < 1e-9 && abs(b - 1 / 11.0.squareRoot()) < 1e-9, "\(a) \(b)")
    }
}
