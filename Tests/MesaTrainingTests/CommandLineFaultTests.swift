import Foundation
import MesaTensor
import Testing

/// Issue 9's reproducers, run as a user runs them: each gets a clear message, a failing status,
/// and leaves no file behind or changed.
extension CommandLineTests {
    @Test func wrongInputIsRefusedByNameAndWritesNothing() throws {
        let dir = temporaryDirectory().path
        let train = ["train", "--preset", "linear-1", "--steps", "2", "--quiet", "--out", dir]
        for (args, words) in [(train + ["--batch-size", "100000000"], ["needs about", "available"]),
                              (train + ["--length", "100000"], ["needs about"]),
                              (train + ["--set", "model.heads=100000"], ["needs about"]),
                              (["train", "--steps", "-5", "--out", dir], ["steps must be ≥ 0"]),
                              (train + ["--set", "=5"], ["field"]),
                              (train + ["--set", "optimizer.beta1=1.5"], ["optimizer.beta1", "[0, 1)"]),
                              (train + ["--set", "schedule.final=-1"], ["schedule.final"]),
                              (train + ["--set", "clipping={\"kind\":\"globalNorm\",\"value\":-1}"], ["clipping.value"]),
                              (["eval", dir], ["holds no run", "config.json"])] {
            let r = try mesa(args)
            #expect(r.status != 0, "\(args) succeeded")
            for w in words { #expect(r.err.contains(w), "\(args): '\(r.err)' lacks '\(w)'") }
            #expect(!r.err.contains("Fatal error") && !r.err.contains("USAGE: mesa <subcommand>"), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir), "a failed command wrote \(dir)")
        // --out naming a file: refused, the file untouched.
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir))
        let r = try mesa(train)
        #expect(r.status != 0 && r.err.contains("not a directory"), "\(r.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir)) == Data("mine".utf8))
    }

    @Test func resumeRefusesChangesByNameAndAcceptsRepeats() throws {
        let dir = temporaryDirectory().path
        #expect(try mesa(["train"] + small + ["--out", dir]).status == 0)
        let preset = try mesa(["train", "--resume", "--out", dir, "--preset", "softmax-7"])
        #expect(preset.status != 0 && preset.err.contains("--preset softmax-7"), "\(preset.err)")
        let seed = try mesa(["train", "--resume", "--out", dir, "--seed", "3", "--quiet"])
        #expect(seed.status != 0 && seed.err.contains("seed: 0 → 3"), "\(seed.err)")
        let same = try mesa(["train", "--resume", "--out", dir, "--seed", "0", "--quiet"])
        #expect(same.status == 0 && !same.out.contains("held-out loss -"), "\(same.err) \(same.out)")
        let shorter = try mesa(["train", "--resume", "--out", dir, "--steps", "1", "--quiet"])
        #expect(shorter.status != 0 && shorter.err.contains("below the run's current step 3"), "\(shorter.err)")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any]
        #expect(saved?["steps"] as? Int == 3)
    }

    /// SIGTERM mid-run checkpoints and exits; a second process on the same directory is refused
    /// while the first trains; --resume then reaches the bytes of an uninterrupted run.
    @Test func sigtermCheckpointsAndAConcurrentRunIsRefused() throws {
        guard let binary = Self.binary else { Issue.record("build the tool first"); return }
        let dir = temporaryDirectory("killed"), straight = temporaryDirectory("straight")
        let args = ["train", "--preset", "linear-2", "--batch-size", "64", "--length", "20", "--set", "evalBatchSize=16",
                    "--set", "evalEvery=7", "--quiet"]
        let p = Process()
        p.executableURL = binary
        p.arguments = args + ["--steps", "1000000", "--out", dir.path]
        p.standardOutput = Pipe()
        p.standardError = Pipe()
        try p.run()
        let metrics = dir.appendingPathComponent("metrics.csv")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 4 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let second = try mesa(args + ["--steps", "5", "--out", dir.path])
        #expect(second.status != 0 && second.err.contains("already holds a run"), "\(second.err)")
        let concurrent = try mesa(["train", "--resume", "--quiet", "--out", dir.path])
        #expect(concurrent.status != 0 && concurrent.err.contains("in use"), "\(concurrent.err)")
        kill(p.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(60)
        while p.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            Issue.record("SIGTERM did not stop mesa train within a minute")
        }
        p.waitUntilExit()
        let said = String(decoding: (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 128 + SIGTERM && said.contains("stopped by SIGTERM"), "\(p.terminationStatus): \(said)")
        let checkpoint = try Safetensors.read(dir.appendingPathComponent("checkpoint.safetensors"))
        let rows = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        let step = Int(rows.last!.prefix { $0 != "," })!
        #expect(checkpoint.metadata["step"] == String(step), "the checkpoint is not at the last row's step \(step)")
        let target = String(step + 3)
        #expect(try mesa(["train", "--resume", "--quiet", "--steps", target, "--out", dir.path]).status == 0)
        #expect(try mesa(args + ["--steps", target, "--out", straight.path]).status == 0)
        for file in ["metrics.csv", "checkpoint.safetensors", "config.json"] {
            #expect(try Data(contentsOf: dir.appendingPathComponent(file)) == Data(contentsOf: straight.appendingPathComponent(file)),
                    "\(file) differs after SIGTERM at step \(step) and --resume")
        }
    }
}
