import Foundation
import MesaTensor
import Testing

/// `mesa reproduce` stopped by SIGTERM (a scheduler's time limit, `kill`): it checkpoints the run it
/// is training, says so, exits with 128 + 15, and the same command again resumes and reaches the
/// bytes of an uninterrupted reproduction.
extension CommandLineTests {
    @Test func sigtermDuringReproduceCheckpointsAndTheSameCommandResumes() throws {
        guard let binary = Self.binary else { Issue.record("build the tool first"); return }
        let stopped = temporaryDirectory("stopped"), straight = temporaryDirectory("straight")
        let args = ["reproduce", "F1", "--profile", "smoke"]
        let p = Process()
        p.executableURL = binary
        p.arguments = args + ["--out", stopped.path, "--quiet"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Stop it once the run has trained a few steps (metrics.csv has a row per step).
        let run = stopped.appendingPathComponent("F1/linear-1-s0")
        let metrics = run.appendingPathComponent("metrics.csv")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning,
              ((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 4 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(p.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(60)
        while p.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            Issue.record("SIGTERM did not stop mesa reproduce within a minute")
        }
        p.waitUntilExit()
        let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        #expect(p.terminationStatus == 128 + SIGTERM, "exit \(p.terminationStatus): \(said)")
        #expect(said.contains("stopped by SIGTERM") && said.contains("run the same command again"), "\(said)")
        #expect(!FileManager.default.fileExists(atPath: stopped.appendingPathComponent("F1/report.md").path),
                "a report was written for an interrupted reproduction")
        // The checkpoint is at the step of metrics.csv's last row, short of the run's 200 steps.
        let checkpoint = try Safetensors.read(run.appendingPathComponent("checkpoint.safetensors"))
        let rows = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        let step = Int(rows.last!.prefix { $0 != "," })!
        #expect(checkpoint.metadata["step"] == String(step) && step < 200, "checkpoint \(checkpoint.metadata), last row \(step)")

        // The same command again resumes; a reproduction never stopped gives the same bytes.
        let resumed = try mesa(args + ["--out", stopped.path, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.err)")
        let fresh = try mesa(args + ["--out", straight.path, "--quiet"])
        #expect(fresh.status == 0, "\(fresh.err)")
        for file in ["linear-1-s0/metrics.csv", "linear-1-s0/checkpoint.safetensors", "linear-1-s0/config.json",
                     "linear-1-s0/eval/per_position_loss.csv", "report.md"] {
            let a = try Data(contentsOf: stopped.appendingPathComponent("F1/" + file))
            let b = try Data(contentsOf: straight.appendingPathComponent("F1/" + file))
            #expect(a == b, "\(file) differs after SIGTERM at step \(step) and the same command again")
        }
    }
}
