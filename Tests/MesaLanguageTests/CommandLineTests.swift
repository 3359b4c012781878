import Foundation
import Testing
import MesaTestSupport

/// `mesa lm` as a user runs it (the tool built by `swift build` before the tests run).
@Suite struct LMCommandLineTests {
    func mesa(_ args: [String]) throws -> MesaTool.Result { try MesaTool.run(args) }

    let tiny = ["--steps", "4", "--batch-size", "2", "--length", "16", "--set", "evalBatchSize=4", "--set", "model.width=16",
                "--set", "model.keySize=4", "--set", "model.valueSize=4", "--set", "model.mlpHidden=16",
                "--set", "model.positionalEncoding=8", "--quiet"]

    @Test func trainEvalAndSampleOnTheTestCorpus() throws {
        let dir = temporaryDirectory().appendingPathComponent("run").path
        let train = try mesa(["lm", "train", "--preset", "lm-2-mesa", "--corpus", tinyCorpusPath, "--out", dir] + tiny)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("bits per byte"))
        let eval = try mesa(["lm", "eval", dir, "--windows", "4", "--quiet"])
        #expect(eval.status == 0 && eval.out.contains("bits per byte") && eval.out.contains("ICL score"), "\(eval.err)")
        let sample = try mesa(["lm", "sample", dir, "--prompt", "The ", "--tokens", "20", "--seed", "3"])
        #expect(sample.status == 0 && sample.out.hasPrefix("The "), "\(sample.err)")
        #expect(sample.out.utf8.count >= 24)
        // Bad sampling settings: a message, a failing status.
        let long = try mesa(["lm", "sample", dir, "--prompt", String(repeating: "a", count: 17)])
        #expect(long.status != 0 && long.err.contains("longer than the model's context"))
        let cold = try mesa(["lm", "sample", dir, "--temperature", "-0.5"])
        #expect(cold.status != 0 && cold.err.contains("--temperature"))
        // A second train into the same directory is refused; the run is untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoint.safetensors"))
        let again = try mesa(["lm", "train", "--preset", "lm-2-mesa", "--corpus", tinyCorpusPath, "--out", dir] + tiny)
        #expect(again.status != 0 && again.err.contains("already holds a run"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoint.safetensors")) == before)
    }

    @Test func badCorporaAreRefusedAndNothingIsWritten() throws {
        let root = temporaryDirectory()
        let bad = root.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: bad)
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            (["--corpus", root.appendingPathComponent("missing.txt").path], "does not exist"),
            (["--corpus", bad.path], "byte offset 3"),
            (["--corpus", empty.path], "holds no text"),
            (["--corpus", tinyCorpusPath, "--length", "1000"], "smaller than one context"),
            (["--corpus", tinyCorpusPath, "--preset", "lm-9-mesa"], "unknown preset"),
        ]
        for (args, expected) in cases {
            let out = root.appendingPathComponent("run").path
            let r = try mesa(["lm", "train", "--out", out] + tiny + args)
            #expect(r.status != 0 && r.err.contains(expected), "\(args): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args) wrote \(out)")
        }
    }
}
