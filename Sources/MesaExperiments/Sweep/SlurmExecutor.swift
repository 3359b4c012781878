import Foundation
import MesaTensor
import MesaTraining

/// Runs a sweep on a Slurm cluster as job arrays: one array task per point, `--array` with a
/// concurrency limit, a time limit, `--requeue` (a preempted task goes back in the queue), output
/// files in SWEEP/slurm/. Every task runs `mesa train` on its point, resuming from the checkpoint
/// when the run directory exists, and `exec`s it so that Slurm's SIGTERM (scancel, time limit,
/// preemption) reaches the trainer, which checkpoints before it exits.
///
/// It follows the array with `squeue` (and `sacct` when the cluster keeps accounting, for the
/// message), reads each point's state from its run directory once the queue has let go of it, and
/// resubmits only the points that stopped before the end, up to `attempts` submissions in all.
public struct SlurmExecutor {
    /// Array tasks running at once (`--array=…%limit`).
    public var concurrency: Int
    /// `--time` per array task (Slurm's format: "MM", "HH:MM:SS", "D-HH").
    public var timeLimit: String
    public var cpusPerTask: Int
    public var partition: String?
    /// Submissions in all (the first and the resubmissions).
    public var attempts: Int
    /// Seconds between squeue polls.
    public var pollSeconds: Double
    public var progress: Bool

    public init(concurrency: Int = 16, timeLimit: String = "1-00:00:00", cpusPerTask: Int = 1, partition: String? = nil,
                attempts: Int = 3, pollSeconds: Double = 5, progress: Bool = true) {
        self.concurrency = max(1, concurrency)
        self.timeLimit = timeLimit
        self.cpusPerTask = max(1, cpusPerTask)
        self.partition = partition
        self.attempts = max(1, attempts)
        self.pollSeconds = pollSeconds
        self.progress = progress
    }

    /// The path of a Slurm command, or nil.
    public static func tool(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Refuses, before anything is written, a machine without sbatch and squeue.
    public static func checkAvailable() throws {
        guard tool("sbatch") != nil, tool("squeue") != nil else { throw SweepError.sbatchMissing }
    }

    /// The batch script of a sweep: every point's command, chosen by SLURM_ARRAY_TASK_ID.
    public func script(folder: URL, manifest: SweepManifest, mesa: URL) -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var cases = ""
        for (i, p) in manifest.points.enumerated() {
            let dir = folder.appendingPathComponent(p.name)
            cases += "  \(i)) dir=\(q(dir.path)); args=(\(p.trainArguments(out: dir).map(q).joined(separator: " "))) ;;\n"
        }
        let out = folder.appendingPathComponent("slurm").path
        return """
        #!/bin/bash
        # mesa sweep: one array task per point of \(folder.path)/sweep.json (written by mesa; submitted with
        # sbatch --array=INDICES%\(concurrency) this-script). A task resumes its point from its checkpoint.
        #SBATCH --job-name=mesa-sweep
        #SBATCH --output=\(out)/%A_%a.out
        #SBATCH --time=\(timeLimit)
        #SBATCH --requeue
        #SBATCH --cpus-per-task=\(cpusPerTask)
        #SBATCH --ntasks=1
        \(partition.map { "#SBATCH --partition=\($0)\n" } ?? "")set -euo pipefail
        export MESA_THREADS=${SLURM_CPUS_PER_TASK:-\(cpusPerTask)}
        case "${SLURM_ARRAY_TASK_ID:?run me with sbatch --array}" in
        \(cases)  *) echo "no point $SLURM_ARRAY_TASK_ID in this sweep" >&2; exit 2 ;;
        esac
        echo "== $(date -u +%FT%TZ) job ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID} on $(hostname): $dir"
        if [ -f "$dir/config.json" ]; then
          exec \(q(mesa.path)) train --out "$dir" --resume --quiet
        else
          exec \(q(mesa.path)) "${args[@]}"
        fi

        """
    }

    /// Submits the points not done, follows them to the end, resubmits those that stopped early,
    /// and returns the final status. Throws when points are still unfinished after `attempts`
    /// submissions, and `ReproductionError.interrupted` when `shouldStop` ends the following (the
    /// jobs go on; `mesa sweep status` and running the sweep again pick them up).
    @discardableResult
    public func run(folder: URL, manifest: SweepManifest, mesa: URL,
                    shouldStop: () -> Bool = { Interrupt.requested }) throws -> SweepStatus {
        try Self.checkAvailable()
        var manifest = manifest
        let slurmDir = folder.appendingPathComponent("slurm")
        try FileManager.default.createDirectory(at: slurmDir, withIntermediateDirectories: true)
        let scriptURL = slurmDir.appendingPathComponent("sweep.sbatch")
        try AtomicFile.write(script(folder: folder, manifest: manifest, mesa: mesa), to: scriptURL)
        // Jobs of an earlier `run` still in the queue are followed, not submitted again.
        var queue = try Self.queue(manifest)
        var submissions = 0
        while true {
            if queue.isEmpty {
                let status = SweepStatus(folder: folder, manifest: manifest)
                let todo = status.points.filter { $0.state == .stopped || $0.state == .notStarted }.map(\.index)
                if todo.isEmpty {
                    let failed = status.points.filter { $0.state != .done }
                    if !failed.isEmpty {
                        throw SweepError.failed("\(failed.count) point(s) did not finish: "
                            + failed.map { "\($0.name) (\($0.note ?? $0.state.rawValue))" }.joined(separator: ", "))
                    }
                    note("slurm: all \(status.points.count) points done")
                    return status
                }
                guard submissions < attempts else {
                    throw SweepError.failed("\(todo.count) point(s) still unfinished after \(attempts) submission(s): "
                        + todo.map { manifest.points[$0].name }.joined(separator: ", ")
                        + "; see \(slurmDir.path) and run the sweep again to resubmit them")
                }
                if submissions > 0 || !manifest.slurmJobs.isEmpty {
                    note("slurm: resubmitting \(todo.count) point(s) that stopped before the end: "
                         + todo.map { manifest.points[$0].name }.joined(separator: ", "))
                }
                let id = try submit(indices: todo, script: scriptURL, folder: folder)
                submissions += 1
                manifest.slurmJobs.append(.init(id: id, points: todo))
                try manifest.write(folder)
                note("slurm: submitted job \(id), array \(Self.arraySpec(todo))%\(concurrency), \(todo.count) task(s); "
                     + "output in \(slurmDir.path)")
                queue = try Self.queue(manifest)
            }
            var lastLine = Date.distantPast
            while !queue.isEmpty {
                if shouldStop() {
                    throw ReproductionError.interrupted("following the Slurm jobs of \(folder.path) (they go on; "
                        + "`mesa sweep status \(folder.path)` shows them)")
                }
                usleep(UInt32(pollSeconds * 1_000_000))
                queue = try Self.queue(manifest)
                if progress, Date().timeIntervalSince(lastLine) >= 30 || queue.isEmpty {
                    lastLine = Date()
                    let status = SweepStatus(folder: folder, manifest: manifest, queue: queue)
                    note("slurm: \(status.count(.done))/\(status.points.count) done, \(status.count(.running)) running, "
                         + "\(status.count(.queued)) queued")
                }
            }
            if let last = manifest.slurmJobs.last, let states = Self.accounting(job: last.id) {
                note("slurm: sacct for job \(last.id): \(states)")
            }
        }
    }

    /// "0-3" for consecutive indices, else "0,2,5".
    static func arraySpec(_ indices: [Int]) -> String {
        let sorted = indices.sorted()
        if let f = sorted.first, let l = sorted.last, l - f + 1 == sorted.count, sorted.count > 1 { return "\(f)-\(l)" }
        return sorted.map(String.init).joined(separator: ",")
    }

    func submit(indices: [Int], script: URL, folder: URL) throws -> String {
        var args = ["--parsable", "--array=\(Self.arraySpec(indices))%\(concurrency)", "--chdir=\(folder.path)"]
        args.append(script.path)
        let r = try Self.command("sbatch", args)
        guard r.status == 0 else { throw SweepError.slurm("sbatch failed (exit \(r.status)): \(r.err.trimmingCharacters(in: .whitespacesAndNewlines))") }
        // --parsable prints "jobid" or "jobid;cluster".
        guard let id = r.out.split(whereSeparator: { $0 == ";" || $0 == "\n" }).first.map(String.init), !id.isEmpty else {
            throw SweepError.slurm("sbatch printed no job id: '\(r.out)'")
        }
        return id
    }

    /// Point index → (array task id, squeue state code) for the sweep's tasks Slurm still lists.
    public static func queue(_ manifest: SweepManifest) throws -> [Int: (task: String, state: String)] {
        let jobs = manifest.slurmJobs.map(\.id)
        guard !jobs.isEmpty else { return [:] }
        // -r: one line per array task, pending ones included.
        let r = try command("squeue", ["-h", "-r", "-j", jobs.joined(separator: ","), "-o", "%i|%t"])
        guard r.status == 0 else {
            // squeue refuses job ids it has forgotten (all finished long ago): nothing queued.
            if r.err.contains("Invalid job id") { return [:] }
            throw SweepError.slurm("squeue failed (exit \(r.status)): \(r.err.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var out: [Int: (task: String, state: String)] = [:]
        for line in r.out.split(separator: "\n") {
            let cells = line.split(separator: "|").map(String.init)
            guard cells.count == 2, let us = cells[0].lastIndex(of: "_"), let index = Int(cells[0][cells[0].index(after: us)...]) else { continue }
            out[index] = (cells[0], cells[1])
        }
        return out
    }

    /// sacct's task states for a job ("0 COMPLETED, 2 CANCELLED"), nil where the cluster keeps no accounting.
    static func accounting(job: String) -> String? {
        guard tool("sacct") != nil, let r = try? command("sacct", ["-n", "-P", "-X", "-j", job, "-o", "JobID,State"]),
              r.status == 0 else { return nil }
        let lines = r.out.split(separator: "\n").map { $0.replacingOccurrences(of: "|", with: " ") }
        return lines.isEmpty ? nil : lines.joined(separator: ", ")
    }

    static func command(_ name: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try run(name, args)
    }

    /// Runs a Slurm command (sbatch, squeue, scancel, …) from the PATH and returns its status and output.
    public static func run(_ name: String, _ args: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, out: String, err: String) {
        guard let path = tool(name) else { throw SweepError.sbatchMissing }
        let r = try CapturedProcess.run(URL(fileURLWithPath: path), args, environment: environment)
        return (r.status, r.out, r.err)
    }

    private func note(_ line: String) {
        if progress { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
