import Foundation
import Testing

/// The `mesa` tool as a user runs it (built by `swift build` before the tests run).
@Suite struct CommandLineTests {
    static let binary: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for config in ["release", "debug"] {
            let u = root.appendingPathComponent(".build/\(config)/mesa")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }()

    struct Result { let status: Int32; let out: String; let err: String }

    func mesa(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        guard let binary = Self.binary else {
            Issue.record("build the tool first: swift build -c release (scripts/test.sh does)")
            return Result(status: -1, out: "", err: "")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    let small = ["--preset", "linear-2", "--steps", "3", "--batch-size", "8", "--length", "10",
                 "--set", "evalBatchSize=8", "--quiet"]

    @Test func badInputGetsAClearMessageAndAFailingStatus() throws {
        let dir = temporaryDirectory().path
        for (args, words) in [(["train", "--preset", "nope", "--out", dir], ["unknown preset 'nope'", "linear-2"]),
                              (["train", "--steps", "-3", "--out", dir], ["steps"]),
                              (["train", "--batch-size", "zero", "--out", dir], ["batch-size"]),
                              (["train", "--set", "model.hedas=2", "--out", dir], ["model.hedas"]),
                              (["train", "--resume", "--out", dir], ["config.json"]),
                              (["eval", dir], ["config.json"]),
                              (["reproduce", "F77"], ["F77"]),
                              (["reproduce", "F1", "--seeds", ",", "--out", dir], ["F1", "seed list is empty"]),
                              (["reproduce", "F4", "--seeds", ",", "--out", dir], ["F4", "seed list is empty"])] {
            let r = try mesa(args)
            #expect(r.status != 0, "\(args) succeeded")
            for w in words { #expect(r.err.contains(w), "\(args): '\(r.err)' lacks '\(w)'") }
        }
        #expect(!FileManager.default.fileExists(atPath: dir), "a failed command wrote \(dir)")
    }

    /// The same run on one thread and on two gives identical metrics and checkpoints.
    @Test func resultsDoNotDependOnTheThreadCount() throws {
        let a = temporaryDirectory("one"), b = temporaryDirectory("two")
        #expect(try mesa(["train"] + small + ["--out", a.path], environment: ["MESA_THREADS": "1"]).status == 0)
        #expect(try mesa(["train"] + small + ["--out", b.path], environment: ["MESA_THREADS": "2"]).status == 0)
        for file in ["metrics.csv", "checkpoint.safetensors", "config.json"] {
            #expect(try Data(contentsOf: a.appendingPathComponent(file)) == Data(contentsOf: b.appendingPathComponent(file)),
                    "\(file) differs")
        }
    }

    @Test func trainThenEvaluate() throws {
        let dir = temporaryDirectory()
        let t = try mesa(["train"] + small + ["--out", dir.path])
        #expect(t.status == 0 && t.out.contains("trained linear-2 for 3 steps"))
        let again = try mesa(["train"] + small + ["--out", dir.path])
        #expect(again.status != 0 && again.err.contains("--resume"))
        let e = try mesa(["eval", dir.path])
        #expect(e.status == 0 && e.out.contains("gd1") && e.out.contains("lsq"))
        for f in ["per_position_loss.csv", "summary.json", "training_curve.csv", "weights/layer1_head3_P_Wv.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("eval/\(f)").path), "missing \(f)")
        }
    }

    @Test func fewShotRegressionOnATrainedRun() throws {
        let dir = temporaryDirectory()
        #expect(try mesa(["train"] + small + ["--out", dir.path]).status == 0)
        let bad = try mesa(["analyze", "fewshot", dir.path, "--pairs=0"])
        #expect(bad.status != 0 && bad.err.contains("--pairs"))
        let out = dir.appendingPathComponent("analysis/fewshot")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let r = try mesa(["analyze", "fewshot", dir.path, "--pairs", "13", "--sequences", "16"])
        #expect(r.status == 0, "\(r.err)")
        let lines = try String(contentsOf: out.appendingPathComponent("fewshot.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "pair,model,lsq_pairs,lsq_transitions" && lines.count == 14)
        // n = 10: LSQ on the pairs is exact once ten pairs are seen, the transitions' LSQ is not.
        let last = lines.last!.split(separator: ",").compactMap { Double($0) }
        #expect(last.count == 4 && last[0] == 13 && last[2] < 1e-4 && last[3] > 0.1)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.md").path))
    }
}
