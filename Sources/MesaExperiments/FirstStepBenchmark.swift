import Foundation
import MesaTraining
#if canImport(Glibc)
import Glibc
#endif

/// Time to the first step and peak memory of `mesa train` (issue 14), from one-step runs in fresh
/// processes: the time from starting the process to its first optimizer step done (configuration,
/// model, the held-out evaluation at step 0 and the step), the wall time of the whole run (that,
/// then the evaluation after the step, config.json, metrics.csv and the checkpoint written, exit),
/// and the process's peak resident set size; the first and the last as the process reports them
/// (`BenchProbe`).
/// The held-out batch runs a micro-batch's worth of sequences at a time
/// (`Trainer.evaluate()`, `Trainer.defaultEvaluationChunk`); both evaluations are run in full, as
/// in a real run.
public struct FirstStepBenchmark {
    /// Wall seconds of each whole run.
    public let seconds: [Double]
    /// Seconds from starting each process to its first optimizer step done (nil: the command wrote
    /// no `BenchProbe`).
    public let firstStepSeconds: [Double?]
    /// Peak resident memory of each run, in bytes (nil: the command wrote no `BenchProbe`).
    public let peakResidentBytes: [Double?]

    public var medianSeconds: Double { StepBenchmark.median(seconds) }
    /// Medians over the runs that reported the figure (nil when none did).
    public var medianFirstStepSeconds: Double? { Self.median(firstStepSeconds) }
    public var medianPeakResidentBytes: Double? { Self.median(peakResidentBytes) }

    static func median(_ x: [Double?]) -> Double? {
        let known = x.compactMap { $0 }
        return known.isEmpty ? nil : StepBenchmark.median(known)
    }

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
        var seconds: [Double] = [], firstSteps: [Double?] = [], peaks: [Double?] = []
        for r in 0..<max(1, runs) {
            let out = scratch.appendingPathComponent("run\(r)").path
            let probe = scratch.appendingPathComponent("probe-\(r)").path
            let arguments = [executable, "train"] + trainArguments + ["--steps", "1", "--quiet", "--out", out]
            let (start, wall) = try spawnAndWait(arguments, environment: [BenchProbe.environmentKey: probe])
            let reported = BenchProbe.read(probe)
            seconds.append(wall)
            firstSteps.append(reported.firstStepNanoseconds.map { Double($0 &- start) * 1e-9 })
            peaks.append(reported.peakResidentBytes.map { Double($0) })
        }
        return FirstStepBenchmark(seconds: seconds, firstStepSeconds: firstSteps, peakResidentBytes: peaks)
    }

    /// The monotonic clock at spawn (`BenchProbe.now()`) and wall seconds from spawn to exit; the
    /// child's environment is this process's plus `environment`.
    static func spawnAndWait(_ arguments: [String], environment: [String: String] = [:]) throws -> (UInt64, Double) {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        var envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        // Standard output is not wanted (the child prints its summary line); errors still show.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let t0 = BenchProbe.now()
        let code = posix_spawn(&pid, arguments[0], &actions, nil, &argv, &envp)
        guard code == 0 else { throw Failure.spawn(arguments[0], code) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let wall = Double(BenchProbe.now() - t0) * 1e-9
        guard status == 0 else { throw Failure.exit(arguments.joined(separator: " "), status) }
        return (t0, wall)
    }

    public var report: String {
        func mb(_ b: Double) -> String { String(format: "%.0f MiB", b / 1_048_576) }
        let known = firstStepSeconds.compactMap { $0 }
        let first = medianFirstStepSeconds.map {
            String(format: "%8.3f s", $0) + "   (process start to the first optimizer step done, the held-out evaluation at step 0 included; median of \(known.count), range "
                + String(format: "%.3f–%.3f", known.min()!, known.max()!) + " s)"
        } ?? "       – s   (the command wrote no bench probe)"
        return """
          time to first step     \(first)
          whole 1-step run       \(String(format: "%8.3f s", medianSeconds))   (that, then the evaluation after the step, the run directory written, exit; median of \(seconds.count), range \(String(format: "%.3f–%.3f", seconds.min()!, seconds.max()!)) s)
          peak resident memory   \((medianPeakResidentBytes.map(mb) ?? "–").padding(toLength: 10, withPad: " ", startingAt: 0))   (of that process, VmHWM: model, optimizer, one step at B and T, the held-out batch; median of \(peakResidentBytes.compactMap { $0 }.count))
        """
    }
}
