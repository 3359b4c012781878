import Foundation
import Testing
import MesaAnalysis
import MesaExperiments
import MesaNN
import MesaTensor
import MesaTraining

/// A softmax model small enough to train in a second: 2 softmax layers, 8 sequences of length 10.
func tinySoftmaxConfig() throws -> TrainConfig {
    var c = try Presets.config("softmax-7")
    c.model.layers = [.softmax, .softmax, .softmax]
    c.steps = 4
    c.batchSize = 8
    c.length = 10
    c.evalBatchSize = 8
    c.evalEvery = 4
    c.checkpointEvery = 4
    return c
}

/// Every file under a directory with its bytes, except `analysis/`.
func snapshot(_ dir: URL) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
    for case let u as URL in e where !u.path.contains("/analysis") {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir), !isDir.boolValue {
            out[u.path] = try Data(contentsOf: u)
        }
    }
    return out
}

/// The analyses on run directories (SPEC §5): what they write, and what they refuse.
@Suite struct AnalysisTests {
    func trained(_ config: TrainConfig) throws -> RunDirectory {
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: config, in: dir, resume: false, progress: false)
        return dir
    }

    @Test func probesWriteTheirFolderAndNothingElse() throws {
        let dir = try trained(tinySoftmaxConfig())
        let before = try snapshot(dir.url)
        let analysis = try ProbeAnalysis(LoadedRun(directory: dir), layers: [1, 3], sequences: 64)
        let r = try analysis.run()
        #expect(r.sites == ["embedding", "layers.0.after_attention", "layers.0.after_mlp",
                            "layers.2.after_attention", "layers.2.after_mlp"])
        #expect(r.r2.count == 5 && r.r2[0].count == 6 && r.r2[0][0].count == 10)
        // The embedding is a linear map of s_t: its probe reads s_t exactly.
        #expect(abs(r.meanR2(site: "embedding", target: "s_t") - 1) < 1e-8)
        for f in ["probes.json", "r2_by_layer.csv", "mse_by_layer.csv", "r2_s_t-1.csv", "summary.md"] {
            #expect(FileManager.default.fileExists(atPath: analysis.outputDirectory.appendingPathComponent(f).path), "\(f)")
        }
        #expect(try snapshot(dir.url) == before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.url.appendingPathComponent("analysis").path)
        #expect(leftovers == ["probes"])
    }

    @Test func badInputIsRefusedAndChangesNothing() throws {
        let dir = try trained(tinySoftmaxConfig())
        let before = try snapshot(dir.url)
        let run = try LoadedRun(directory: dir)
        #expect(throws: AnalysisError.self) { try ProbeAnalysis(run, layers: [4]) }
        do { _ = try ProbeAnalysis(run, layers: [0]); Issue.record("layer 0 accepted") } catch {
            #expect("\(error)".contains("layer 0 does not exist") && "\(error)".contains("1…3"), "\(error)")
        }
        #expect(try snapshot(dir.url) == before)
        #expect(!FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("analysis").path))

        var linear = try tinyConfig(steps: 4)
        linear.length = 10
        let linearRun = try LoadedRun(directory: trained(linear))
        do { _ = try LinearizationAnalysis(linearRun); Issue.record("linearized a model without softmax layers") } catch {
            #expect("\(error)".contains("no softmax layers"), "\(error)")
        }
        #expect(throws: AnalysisError.self) { try AttentionAnalysis(run, layers: [9]) }

        let empty = RunDirectory(temporaryDirectory())
        try empty.writeConfig(tinySoftmaxConfig())
        do { _ = try LoadedRun(directory: empty); Issue.record("loaded a run without checkpoint") } catch {
            #expect("\(error)".contains("no checkpoint"), "\(error)")
        }
    }

    /// Swapping nothing changes nothing; swapping in a distilled layer changes only that layer, and
    /// distillation fits the layer better than the starting point (output near zero: error ≈ 1).
    @Test func linearizationSwapsOneLayer() throws {
        let dir = try trained(tinySoftmaxConfig())
        let run = try LoadedRun(directory: dir)
        let task = try run.config.task.makeTask(seed: 0)
        let tokens = task.batch(size: 32, length: 10, seed: 0, purpose: .validationBatch, dtype: .float64).inputs
        let same = try Linearization.swapped(run.model, [:])
        let a = Variable.withoutGradients { run.model(tokens).value }, b = Variable.withoutGradients { same(tokens).value }
        #expect(a.relativeError(to: b) == 0)
        let fitted = Linearization.distil(run.model, layer: 1, tokens: tokens, heldOut: tokens,
                                          settings: .init(steps: 60, batchSize: 16, learningRate: 1e-2))
        #expect(fitted.relativeError < 0.9)
        let swapped = try Linearization.swapped(run.model, [1: fitted.attention])
        #expect(swapped.blocks[1].attention.kind == .linear && swapped.blocks[0].attention.kind == .softmax)
        let trace = ForwardTrace(capturing: ["layers.0.output"]), original = ForwardTrace(capturing: ["layers.0.output"])
        Variable.withoutGradients { _ = swapped(tokens, trace: trace); _ = run.model(tokens, trace: original) }
        #expect(trace["layers.0.output"]!.relativeError(to: original["layers.0.output"]!) == 0)
        let c = Variable.withoutGradients { swapped(tokens).value }
        #expect(c.relativeError(to: a) > 0)
    }

    /// `mesa eval` (and F4 through it) averages attention maps over 2048 held-out sequences (SPEC §5.5),
    /// not over the loss evaluation's batch (8 sequences here), and the maps do not depend on how the
    /// model's passes are chunked.
    @Test func evaluationAveragesAttentionOver2048Sequences() throws {
        let dir = try trained(tinySoftmaxConfig())
        let run = try LoadedRun(directory: dir)
        let (summary, _) = try Evaluation(run).run()
        #expect(summary.evalBatchSize == 8 && summary.attentionSequences == 2048)
        let tokens = try AttentionMaps.heldOutTokens(run.config)
        #expect(tokens.shape[0] == 2048)
        // The loss evaluation's sequences are the first of the 2048.
        let first = try AttentionMaps.heldOutTokens(run.config, sequences: 8)
        #expect(Array(tokens.doubles.prefix(first.count)) == first.doubles)
        let whole = AttentionMaps(model: run.model, tokens: tokens, chunk: 2048)
        let chunked = AttentionMaps(model: run.model, tokens: tokens, chunk: 300)
        let few = AttentionMaps(model: run.model, tokens: first)
        #expect(summary.attention.map(\.layer) == [1, 2, 3])
        for l in 0..<3 {
            #expect(chunked.maps[l]!.relativeError(to: whole.maps[l]!) < 1e-6)
            #expect(abs(summary.attention[l].onCurrent - whole.meanWeight(layer: l, lag: 0)) < 1e-6)
            #expect(abs(summary.attention[l].onPrevious - whole.meanWeight(layer: l, lag: 1)) < 1e-6)
            #expect(few.maps[l]!.relativeError(to: whole.maps[l]!) > 1e-4)
        }
    }
}
