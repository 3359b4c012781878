import Foundation
import MesaTensor
import MesaTraining

/// Runs a sweep's unfinished points on this machine as separate `mesa train` processes,
/// `processes` at a time with `threadsPerProcess` threads each (MESA_THREADS). The default,
/// one single-threaded process per core, was faster than one process at a time with every
/// thread (BENCHMARKS.md, "Sweeps"). Each point's output goes to SWEEP/logs/NAME.log; a point with
/// a run directory resumes from its checkpoint. Ctrl-C or SIGTERM is passed on to the running
/// points, which checkpoint and exit; running the sweep again continues them.
public struct LocalExecutor {
    public var processes: Int
    public var threadsPerProcess: Int
    public var progress: Bool

    /// The measured default: one process per core, one thread each.
    public static var defaultProcesses: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    public init(processes: Int = LocalExecutor.defaultProcesses, threadsPerProcess: Int = 1, progress: Bool = true) {
        self.processes = max(1, processes)
        self.threadsPerProcess = max(1, threadsPerProcess)
        self.progress = progress
    }

    /// Trains every point not done (diverged ones are left as they are) and returns the final
    /// status. Throws `SweepError.failed` naming the points that did not finish, and
    /// `ReproductionError.interrupted` when `shouldStop` asked it to stop.
    @discardableResult
    public func run(folder: URL, manifest: SweepManifest, mesa: URL,
                    shouldStop: () -> Bool = { Interrupt.requested }) throws -> SweepStatus {
        let logs = folder.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let start = SweepStatus(folder: folder, manifest: manifest)
        if let busy = start.points.first(where: { $0.state == .running }) {
            throw SweepError.failed("point \(busy.name) is being trained by another process (its run directory is locked); "
                                    + "wait for it, or see `mesa sweep status \(folder.path)`")
        }
        var queue = start.points.filter { $0.state == .stopped || $0.state == .notStarted }.map(\.index)
        let skipped = start.points.filter { $0.state == .failed }
        for p in skipped { note("sweep: \(p.name) is left as it is: \(p.note ?? "failed")") }
        let total = manifest.points.count
        var running: [(index: Int, process: Process, log: FileHandle)] = []
        var failures: [String] = []
        var finished = start.count(.done)
        var stopping = false
        let began = Date()
        var lastLine = Date.distantPast
        note("sweep: \(queue.count) of \(total) points to train, \(processes) at a time × \(threadsPerProcess) thread(s); logs in \(logs.path)")
        while !queue.isEmpty || !running.isEmpty {
            if !stopping, shouldStop() {
                stopping = true
                queue.removeAll()
                note("sweep: stopping; the \(running.count) running point(s) checkpoint and exit")
                for r in running { kill(r.process.processIdentifier, SIGTERM) }
            }
            while !stopping, running.count < processes, let i = queue.first {
                queue.removeFirst()
                running.append(try launch(manifest.points[i], index: i, folder: folder, logs: logs, mesa: mesa))
            }
            usleep(100_000)
            let ended = running.filter { !$0.process.isRunning }
            running.removeAll { r in ended.contains { $0.index == r.index } }
            for r in ended {
                r.process.waitUntilExit()
                try? r.log.close()
                let p = manifest.points[r.index]
                if r.process.terminationStatus == 0 {
                    finished += 1
                } else if !stopping {
                    failures.append("\(p.name) (exit \(r.process.terminationStatus); see logs/\(p.name).log)")
                }
            }
            if progress, Date().timeIntervalSince(lastLine) >= 10 || (queue.isEmpty && running.isEmpty) {
                lastLine = Date()
                let elapsed = Date().timeIntervalSince(began)
                let doneHere = finished - start.count(.done)
                let left = total - finished - failures.count - skipped.count
                let eta = doneHere > 0 && left > 0 ? ", ETA " + ProgressLine.duration(elapsed / Double(doneHere) * Double(left)) : ""
                note("sweep: \(finished)/\(total) done, \(running.count) running, \(queue.count) waiting, "
                     + "\(failures.count) failed; \(ProgressLine.duration(elapsed))\(eta)")
            }
        }
        if stopping { throw ReproductionError.interrupted("the sweep in \(folder.path)") }
        let status = SweepStatus(folder: folder, manifest: manifest)
        if !failures.isEmpty {
            throw SweepError.failed("\(failures.count) point(s) failed: \(failures.joined(separator: ", ")); "
                                    + "`mesa sweep run \(folder.path)` runs them again from their checkpoints")
        }
        return status
    }

    /// Starts one point: `mesa train` with the point's preset and assignments, or `--resume` when
    /// its run directory exists. Foundation starts it in a process group of its own, so a Ctrl-C at
    /// the terminal reaches it once, through this process (a second signal would end it unsaved).
    func launch(_ point: SweepPoint, index: Int, folder: URL, logs: URL, mesa: URL) throws
        -> (index: Int, process: Process, log: FileHandle) {
        let dir = RunDirectory(folder.appendingPathComponent(point.name))
        let args = dir.exists ? ["train", "--out", dir.url.path, "--resume", "--quiet"] : point.trainArguments(out: dir.url)
        let logURL = logs.appendingPathComponent("\(point.name).log")
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        log.write(Data("== \(ISO8601DateFormatter().string(from: Date())) mesa \(args.joined(separator: " "))\n".utf8))
        let p = Process()
        p.executableURL = mesa
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["MESA_THREADS"] = String(threadsPerProcess)
        p.environment = env
        p.standardOutput = log
        p.standardError = log
        try p.run()
        return (index, p, log)
    }

    private func note(_ line: String) {
        if progress { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}

extension SweepManifest {
    /// The `mesa` executable: MESA_EXECUTABLE, else this process when it is mesa, else `mesa`
    /// beside it (the tests: .build/release/mesa next to the test bundle).
    public static func mesaExecutable() throws -> URL {
        if let e = ProcessInfo.processInfo.environment["MESA_EXECUTABLE"], !e.isEmpty { return URL(fileURLWithPath: e) }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let own = FileManager.default.fileExists(atPath: me.path) ? me : URL(fileURLWithPath: CommandLine.arguments[0])
        if own.lastPathComponent == "mesa" { return own }
        var dir = own.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("mesa")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw SweepError.failed("cannot find the mesa executable to run the points; set MESA_EXECUTABLE")
    }
}
