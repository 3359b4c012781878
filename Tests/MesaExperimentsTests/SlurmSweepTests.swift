import Foundation
import Testing
import MesaTestSupport
import MesaExperiments
import MesaTraining

/// A single-node Slurm cluster of our own (scripts/slurm-cluster.sh: generated slurm.conf, munged,
/// slurmctld, slurmd), started for the test and stopped after it, also when it fails.
final class SlurmCluster {
    let dir: URL
    let conf: URL
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/slurm-cluster.sh")

    /// Why Slurm cannot run here (not root, slurm-wlm or munge missing), nil when it can.
    static var unavailable: String? {
        if getuid() != 0 { return "not root (slurmd runs jobs as their users)" }
        for tool in ["sbatch", "squeue", "scancel", "slurmctld", "slurmd", "munged"] where SlurmExecutor.tool(tool) == nil
            && !FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(tool)") {
            return "\(tool) is not installed (scripts/setup.sh installs slurm-wlm and munge)"
        }
        return nil
    }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-slurm-\(UUID().uuidString.prefix(8))")
        conf = dir.appendingPathComponent("slurm.conf")
        let r = try Self.call(["start", dir.path])
        guard r.status == 0 else {
            throw SweepError.slurm("the test cluster did not start (exit \(r.status)): \(r.output)")
        }
    }

    func stop() { _ = try? Self.call(["stop", dir.path]) }

    deinit { stop() }

    static func call(_ args: [String]) throws -> (status: Int32, output: String) {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (env["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-slurm-call-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let child = try Spawned("/bin/bash", [script.path] + args, environment: env, output: log)
        let status = child.wait()
        return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}

/// A child process started with posix_spawn and reaped with waitpid, its output in a file. (Foundation's
/// Process, in a test process that starts many children from parallel tests, once missed the exit of
/// the cluster script and waited forever.)
final class Spawned {
    let pid: pid_t
    private(set) var status: Int32?

    init(_ path: String, _ args: [String], environment: [String: String], output: URL) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard rc == 0 else { throw SweepError.failed("cannot start \(path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Whether it still runs (reaps it when it has ended).
    var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        let r = waitpid(pid, &s, WNOHANG)
        if r == pid { status = Self.exitStatus(s); return false }
        return r == 0
    }

    func wait() -> Int32 {
        if let status { return status }
        var s: Int32 = 0
        while waitpid(pid, &s, 0) == -1 && errno == EINTR {}
        status = Self.exitStatus(s)
        return status!
    }

    func terminate() { if isRunning { kill(pid, SIGTERM) } }

    static func exitStatus(_ s: Int32) -> Int32 { (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f) }
}

/// The Slurm executor against a real Slurm: a 4-point sweep as a job array, one task cancelled
/// mid-run with scancel, resubmitted by the executor, resumed from its checkpoint, and every
/// point's final checkpoint byte-identical to the same sweep under the local executor.
@Suite(.serialized) struct SlurmSweepTests {
    /// Long enough (a few seconds a point) that a task can be cancelled mid-run; checkpoints every 20 steps.
    static let grid = ["--preset", "linear-1", "--seeds", "0-3", "--steps", "1500", "--batch-size", "16", "--length", "20",
                       "--set", "evalBatchSize=16", "--set", "evalEvery=250", "--set", "checkpointEvery=20",
                       "--quiet", "--no-report"]

    @Test func aCancelledArrayTaskIsResubmittedAndEndsAsTheLocalRun() throws {
        if let why = SlurmCluster.unavailable {
            print("SlurmSweepTests: skipped, Slurm cannot be started on this machine: \(why)")
            return
        }
        let cluster = try SlurmCluster()
        defer { cluster.stop() }
        let env = ["SLURM_CONF": cluster.conf.path]

        let local = temporaryDirectory("local")
        let l = try MesaTool.run(["sweep", "run", local.path, "--processes", "2"] + Self.grid)
        #expect(l.status == 0, "\(l.err)")

        let slurm = temporaryDirectory("slurm")
        guard let binary = MesaTool.binary else { Issue.record("no mesa binary"); return }
        let log = temporaryDirectory("executor.log")
        try FileManager.default.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
        let p = try Spawned(binary.path, ["sweep", "run", slurm.path, "--executor", "slurm", "--slurm-limit", "2",
                                          "--slurm-poll", "0.5", "--slurm-time", "10"] + Self.grid.filter { $0 != "--quiet" },
                            environment: ProcessInfo.processInfo.environment.merging(env) { $1 }, output: log)
        defer { p.terminate() }

        // Wait until point 1 runs and has checkpointed, then cancel its array task.
        let victim = slurm.appendingPathComponent("linear-1-s1")
        var cancelled: String?
        let start = Date()
        while cancelled == nil, Date().timeIntervalSince(start) < 90, p.isRunning {
            usleep(100_000)
            guard let manifest = try? SweepManifest.read(slurm), let job = manifest.slurmJobs.first else { continue }
            let dir = RunDirectory(victim)
            guard dir.hasCheckpoint, let f = try? dir.readCheckpoint(), let step = Int(f.metadata["step"] ?? ""), step > 0 else { continue }
            #expect(step < 1500, "point 1 finished before it could be cancelled")
            let r = try SlurmExecutor.run("scancel", ["\(job.id)_1"], environment: env)
            #expect(r.status == 0, "scancel: \(r.err)")
            cancelled = "\(job.id)_1 at step \(step)"
        }
        #expect(cancelled != nil, "never saw point 1 checkpoint")
        while p.isRunning, Date().timeIntervalSince(start) < 150 { usleep(200_000) }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if p.isRunning {
            Issue.record("the slurm sweep did not end in time: \(output)")
            p.terminate()
        }
        #expect(p.wait() == 0, "\(output)")
        #expect(output.contains("resubmitting 1 point(s)") && output.contains("linear-1-s1"), "\(output)")

        let manifest = try SweepManifest.read(slurm)
        #expect(manifest.slurmJobs.count == 2 && manifest.slurmJobs.last?.points == [1], "\(manifest.slurmJobs)")
        // The cancelled task checkpointed on SIGTERM; the second job resumed it.
        if let first = manifest.slurmJobs.first {
            let out = try String(contentsOf: slurm.appendingPathComponent("slurm/\(first.id)_1.out"), encoding: .utf8)
            #expect(out.contains("stopped by SIGTERM"), "\(out)")
        }
        // Same bytes as the local sweep, point by point (config, metrics, checkpoint).
        let a = try runFiles(local), b = try runFiles(slurm)
        #expect(a.keys.sorted() == b.keys.sorted())
        for (k, v) in a where k != "sweep.json" {
            #expect(b[k] == v, "\(k) differs between the local and the Slurm sweep (cancelled: \(cancelled ?? "-"))")
        }
        let status = try MesaTool.run(["sweep", "status", slurm.path], environment: env)
        #expect(status.out.contains("4 points: 4 done"), "\(status.out)")
    }
}
