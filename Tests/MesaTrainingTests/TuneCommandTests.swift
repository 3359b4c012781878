import Foundation
import Testing

/// `mesa tune eos|prefix` as a user runs it: a run directory of its own, resumable; bad input
/// refused by name with nothing written.
extension CommandLineTests {
    @Test func tuneWritesItsOwnRunAndResumes() throws {
        let model = temporaryDirectory("model").path, out = temporaryDirectory("tune").path
        #expect(try mesa(["train"] + small + ["--out", model]).status == 0)
        let before = try FileManager.default.contentsOfDirectory(atPath: model).sorted()
        let tune = ["tune", "eos", model, "--out", out, "--batch-size", "4", "--pairs", "2", "--quiet"]
        let r = try mesa(tune + ["--steps", "2"])
        #expect(r.status == 0 && r.out.contains("tuned 1 token(s) (eos)"), "\(r.err)")
        for f in ["config.json", "metrics.csv", "checkpoint.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: model).sorted() == before)
        // Again without --resume: refused; with it, extended; another learning rate: refused by name.
        #expect(try mesa(tune + ["--steps", "3"]).err.contains("already holds a run"))
        let lr = try mesa(["tune", "eos", model, "--out", out, "--resume", "--lr", "0.5", "--quiet"])
        #expect(lr.status != 0 && lr.err.contains("learningRate: 0.001 → 0.5"), "\(lr.err)")
        let resumed = try mesa(["tune", "eos", model, "--out", out, "--resume", "--steps", "3", "--quiet"])
        #expect(resumed.status == 0 && resumed.out.contains("for 3 steps"), "\(resumed.err)")
        let prefix = try mesa(["tune", "prefix", model, "--out", temporaryDirectory("p").path, "--tokens", "2", "--steps", "1",
                               "--batch-size", "4", "--pairs", "2", "--quiet"])
        #expect(prefix.status == 0 && prefix.out.contains("tuned 2 token(s) (prefix)"), "\(prefix.err)")
    }

    @Test func tuneRefusesBadInputByName() throws {
        let model = temporaryDirectory("model").path, out = temporaryDirectory("tune").path
        #expect(try mesa(["train"] + small + ["--out", model]).status == 0)
        let config = try Data(contentsOf: URL(fileURLWithPath: model + "/config.json"))
        for (args, words) in [(["tune", "eos", out + "-missing", "--out", out], ["no model run", "-missing"]),
                              (["tune", "eos", model, "--out", out, "--pairs", "-3"], ["--pairs", "-3"]),
                              (["tune", "eos", model, "--out", out, "--dimension", "7"], ["--dimension 7", "model.dimension = 10"]),
                              (["tune", "prefix", model, "--out", out, "--tokens", "0"], ["--tokens"]),
                              (["tune", "eos", model, "--out", out, "--steps", "-1"], ["steps must be ≥ 0"]),
                              (["tune", "eos", model, "--out", model], ["already holds a run"]),
                              (["analyze", "fewshot", model, "--pairs", "-2"], ["--pairs"])] {
            let r = try mesa(args)
            #expect(r.status != 0, "\(args) succeeded")
            for w in words { #expect(r.err.contains(w), "\(args): '\(r.err)' lacks '\(w)'") }
            #expect(!r.err.contains("Fatal error"), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out), "a refused tuning wrote \(out)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model + "/config.json")) == config)
        #expect(!FileManager.default.fileExists(atPath: model + "/analysis"))
    }
}
