import Foundation
import Testing
import MesaAnalysis
import MesaLanguage
import MesaTensor
import MesaTraining

@Suite struct LanguageTrainingTests {
    @Test func everyPresetValidatesAndNamesItsLayers() throws {
        let corpus = TextCorpusSettings(corpus: [tinyCorpusPath])
        #expect(LMPresets.names.count == 6)
        for name in LMPresets.names {
            let c = try LMPresets.config(name, corpus: corpus)
            try c.validate()
            #expect(c.model.layers[0] == .softmax && c.model.width == 128 && c.model.heads == 4 && c.length == 256)
            #expect(c.model.layers.count == (name.hasPrefix("lm-2") ? 2 : 4) && c.model.mlp == name.hasPrefix("lm-4"))
            #expect(c.model.attentionSpec(layer: 1).normalizeQueryKey == (c.model.layers[1] != .softmax))
        }
        #expect(throws: ConfigError.self) { try LMPresets.config("lm-3-mesa", corpus: corpus) }
    }

    /// A tiny model trained through the project's trainer: the loss falls, the run directory is
    /// complete, a resumed run reaches the same bytes, and eval writes its files.
    @Test func trainsResumesAndEvaluates() throws {
        let root = temporaryDirectory()
        let config = try tinyRunConfig(steps: 30)
        let whole = RunDirectory(root.appendingPathComponent("whole"))
        let summary = try LanguageModelling.train(config: config, in: whole, resume: false, progress: false)
        let rows = try whole.readMetrics()
        let first = rows.first!.values["eval_loss"]!, last = rows.last!.values["eval_loss"]!
        #expect(first > 5.0 && first < 6.0)   // ≈ ln 256 = 5.55 at initialization
        #expect(last < first - 1.5, "held-out loss \(first) → \(last)")
        #expect(summary.steps == 30)
        // Stopped after 12 steps, then resumed: the same checkpoint, byte for byte.
        let split = RunDirectory(root.appendingPathComponent("split"))
        var calls = 0
        let stopped = try LanguageModelling.train(config: config, in: split, resume: false, progress: false,
                                                  shouldStop: { calls += 1; return calls > 12 })
        #expect(stopped.outcome == .interrupted && stopped.steps == 12)
        _ = try LanguageModelling.train(config: config, in: split, resume: true, progress: false)
        #expect(try Data(contentsOf: split.checkpointURL) == Data(contentsOf: whole.checkpointURL))
        // Evaluation: the mean of the per-position losses, in bits per byte.
        let loaded = try LanguageModelling.load(whole)
        let corpus = try Corpus(settings: config.task.text!)
        let result = try LMEvaluation.evaluate(loaded.model, corpus: corpus, length: config.length, windows: 8, step: loaded.step)
        #expect(abs(result.meanLoss - last) < 1e-4, "eval \(result.meanLoss) vs trainer's \(last)")
        #expect(abs(result.bitsPerByte - result.meanLoss / log(2)) < 1e-12)
        #expect(result.perPosition.count == 16 && result.earlyPosition < result.latePosition)
        try result.write(to: whole.url.appendingPathComponent("eval"), title: "test")
        #expect(FileManager.default.fileExists(atPath: whole.url.appendingPathComponent("eval/per_position_loss.csv").path))
        // The analyses of the synthetic tasks refuse a language model by name.
        do {
            _ = try LoadedRun(directory: whole)
            Issue.record("LoadedRun accepted a language model")
        } catch {
            #expect("\(error)".contains("mesa lm eval"))
        }
    }

    @Test func aCorpusSmallerThanTheContextWritesNothing() throws {
        let root = temporaryDirectory()
        var config = try tinyRunConfig()
        config.length = 400  // the validation part holds ~375 bytes
        let dir = RunDirectory(root.appendingPathComponent("run"))
        do {
            _ = try LanguageModelling.train(config: config, in: dir, resume: false, progress: false)
            Issue.record("a corpus smaller than the context was accepted")
        } catch {
            #expect("\(error)".contains("smaller than one context"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.url.path))
    }
}
