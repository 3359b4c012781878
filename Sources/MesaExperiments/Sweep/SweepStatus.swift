import Foundation
import MesaTensor
import MesaTraining

/// Where each point of a sweep stands, read from its run directory (the truth for every executor:
/// a finished checkpoint is done whoever trained it) and, for Slurm, from the queue.
public struct SweepStatus {
    public enum State: String {
        /// The checkpoint has reached the configured steps.
        case done
        /// A process holds the run's lock.
        case running
        /// Waiting in the Slurm queue (or about to start locally).
        case queued
        /// Started and stopped before the end (failed, cancelled, preempted, timed out): resumable.
        case stopped
        /// Ended with an error a retry will not fix (training diverged).
        case failed
        /// Never started.
        case notStarted = "not started"
    }

    public struct Point {
        public let index: Int
        public let name: String
        public let state: State
        /// The checkpoint's step, and the configured total.
        public let step: Int
        public let steps: Int
        /// The Slurm job/array task it is queued or running as, when known.
        public let slurmTask: String?
        public let note: String?
    }

    public let folder: URL
    public let points: [Point]

    public var allDone: Bool { points.allSatisfy { $0.state == .done } }
    public func count(_ s: State) -> Int { points.filter { $0.state == s }.count }

    /// Reads every point's run directory; `queue` maps point index → (Slurm task id, squeue state)
    /// for the tasks Slurm still lists.
    public init(folder: URL, manifest: SweepManifest, queue: [Int: (task: String, state: String)] = [:]) {
        self.folder = folder
        points = manifest.points.enumerated().map { i, p in
            let dir = RunDirectory(folder.appendingPathComponent(p.name))
            let step = Self.checkpointStep(dir)
            let diverged = Self.divergence(folder: folder, point: p, index: i)
            let state: State
            var note: String? = nil
            if dir.hasCheckpoint, step >= p.config.steps {
                state = .done
            } else if Self.isLocked(dir.url) {
                state = .running
            } else if let q = queue[i] {
                state = q.state == "R" || q.state == "CG" ? .running : .queued
                note = "squeue \(q.state)"
            } else if let d = diverged {
                state = .failed
                note = d
            } else if dir.exists {
                state = .stopped
            } else {
                state = .notStarted
            }
            return Point(index: i, name: p.name, state: state, step: step, steps: p.config.steps,
                         slurmTask: queue[i]?.task, note: note)
        }
    }

    /// The step of DIR's checkpoint (0 without one).
    static func checkpointStep(_ dir: RunDirectory) -> Int {
        guard dir.hasCheckpoint, let f = try? Safetensors.read(dir.checkpointURL) else { return 0 }
        return Int(f.metadata["step"] ?? "") ?? 0
    }

    /// Whether a process holds DIR/.lock (`RunLock`); tried without blocking and released at once.
    static func isLocked(_ dir: URL) -> Bool {
        let path = dir.appendingPathComponent(".lock").path
        guard FileManager.default.fileExists(atPath: path) else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// The logs a point's processes wrote: SWEEP/logs/NAME.log (local) and SWEEP/slurm/*_INDEX.out.
    static func logs(folder: URL, point: SweepPoint, index: Int) -> [URL] {
        var urls = [folder.appendingPathComponent("logs/\(point.name).log")]
        let slurm = folder.appendingPathComponent("slurm")
        if let files = try? FileManager.default.contentsOfDirectory(atPath: slurm.path) {
            urls += files.filter { $0.hasSuffix("_\(index).out") }.sorted().map { slurm.appendingPathComponent($0) }
        }
        return urls.filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// "training diverged at step …" when a log of the point's says so (the run stopped there, its
    /// last good checkpoint kept).
    static func divergence(folder: URL, point: SweepPoint, index: Int) -> String? {
        for url in logs(folder: folder, point: point, index: index) {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            if let line = text.split(separator: "\n").last(where: { $0.contains("training diverged") }) {
                return String(line).replacingOccurrences(of: "Error: ", with: "")
            }
        }
        return nil
    }

    /// A table: one line per point and a count per state.
    public var table: String {
        let width = max(5, points.map(\.name.count).max() ?? 5)
        var lines = ["point".padding(toLength: width, withPad: " ", startingAt: 0) + "  state        step"]
        for p in points {
            var line = p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + p.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                + " \(p.step)/\(p.steps)"
            if let t = p.slurmTask { line += "  job \(t)" }
            if let n = p.note { line += "  (\(n))" }
            lines.append(line)
        }
        let counts = [State.done, .running, .queued, .stopped, .failed, .notStarted].compactMap { s in
            count(s) > 0 ? "\(count(s)) \(s.rawValue)" : nil
        }
        lines.append("\(points.count) points: " + counts.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
