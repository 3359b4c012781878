import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Time to the first step and peak memory of `mesa train` (issue 14): the wall time of a whole
/// one-step run in a fresh process (process start, configuration, model, held-out evaluation at
/// step 0, the step, the evaluation after it, config.json, metrics.csv and the checkpoint
/// written, exit), and that process's peak resident set size (`ru_maxrss` from `wait4`).
/// The held-out batch runs a micro-batch's worth of sequences at a time
/// (`Trainer.evaluate()`, `Trainer.defaultEvaluationChunk`); both evaluations are run in full, as
/// in a real run.
public struct FirstStepBenchmark {
    public let seconds: [Double]
    /// Peak resident memory of each run, in bytes.
    public let peakResidentBytes: [Double]

    public var medianSeconds: Double { StepBenchmark.median(seconds) }
    public var medianPeakResidentBytes: Double { StepBenchmark.median(peakResidentBytes) }

    public enum Failure: Error, CustomStringConvertible {
        case spawn(String, Int32)
        case exit(String, Int32)
        public var description: String {
            switch self {
            case let .spawn(path, code): return "could not start \(path) (error \(code))"
            case let .exit(command, status): return "`\(command)` failed (wait status \(status))"
            }
        }
    }

    /// Runs `executable train <trainArguments> --steps 1 --quiet --out <fresh directory>` `runs`
    /// times, one after another.
    public static func run(executable: String, trainArguments: [String], runs: Int) throws -> FirstStepBenchmark {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("mesa-first-step-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var seconds: [Double] = [], peaks: [Double] = []
        for r in 0..<max(1, runs) {
            let out = scratch.appendingPathComponent("run\(r)").path
            let arguments = [executable, "train"] + trainArguments + ["--steps", "1", "--quiet", "--out", out]
            let (wall, maxRSS) = try spawnAndWait(arguments)
            seconds.append(wall)
            peaks.append(maxRSS)
        }
        return FirstStepBenchmark(seconds: seconds, peakResidentBytes: peaks)
    }

    /// Wall seconds from spawn to exit, and the child's peak resident bytes.
    static func spawnAndWait(_ arguments: [String]) throws -> (Double, Double) {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // Standard output is not wanted (the child prints its summary line); errors still show.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        let code = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard code == 0 else { throw Failure.spawn(arguments[0], code) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        guard status == 0 else { throw Failure.exit(arguments.joined(separator: " "), status) }
        return (wall, Double(usage.ru_maxrss) * 1024)  // Linux: kilobytes
    }

    public var report: String {
        func mb(_ b: Double) -> String { String(format: "%.0f MiB", b / 1_048_576) }
        return """
          time to first step     \(String(format: "%8.3f s", medianSeconds))   (whole `mesa train --steps 1` process, held-out evaluation included; median of \(seconds.count), range \(String(format: "%.3f–%.3f", seconds.min()!, seconds.max()!)) s)
          peak resident memory   \(mb(medianPeakResidentBytes).padding(toLength: 10, withPad: " ", startingAt: 0))   (of that process: model, optimizer, one step at B and T, the held-out batch)
        """
    }
}
