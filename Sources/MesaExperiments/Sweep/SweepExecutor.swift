import Foundation
import MesaTraining

/// Where a sweep's points train: on this machine (`LocalExecutor`) or on a Slurm cluster
/// (`SlurmExecutor`). `mesa sweep` and `mesa reproduce --executor` take one.
public enum SweepExecutor {
    case local(LocalExecutor)
    case slurm(SlurmExecutor)

    /// "local" or "slurm" with the defaults; a clear error for anything else. `slurm` is refused
    /// here, before anything is written, where sbatch is missing.
    public static func named(_ name: String, progress: Bool = true) throws -> SweepExecutor {
        switch name.lowercased() {
        case "local": return .local(LocalExecutor(progress: progress))
        case "slurm":
            try SlurmExecutor.checkAvailable()
            return .slurm(SlurmExecutor(progress: progress))
        default: throw SweepError.badSpec("--executor must be local or slurm, got '\(name)'")
        }
    }

    public var name: String {
        switch self {
        case .local: return "local"
        case .slurm: return "slurm"
        }
    }

    /// Trains the sweep's points that are not done and returns the final status.
    @discardableResult
    public func run(folder: URL, manifest: SweepManifest, mesa: URL? = nil) throws -> SweepStatus {
        let mesa = try mesa ?? SweepManifest.mesaExecutable()
        switch self {
        case let .local(e): return try e.run(folder: folder, manifest: manifest, mesa: mesa)
        case let .slurm(e): return try e.run(folder: folder, manifest: manifest, mesa: mesa)
        }
    }
}

extension ReproductionOptions {
    /// Who trains a finding's `count` runs: `--executor`'s executor; under `--report-only` the
    /// local one (which then trains nothing); else, for more than one run, `sideBySide` (the
    /// command line's default: one process per core, measured faster than one run after another
    /// on all cores; BENCHMARKS.md, "Sweeps"); nil: one after another in this process.
    public func sweepExecutor(forRuns count: Int) -> SweepExecutor? {
        if let executor { return executor }
        if reportOnly { return .local(LocalExecutor(progress: progress)) }
        if count > 1, let sideBySide { return .local(sideBySide) }
        return nil
    }

    /// True when `count` runs train through the sweep engine (`sweepExecutor(forRuns:)`).
    public func trainsAsSweep(_ count: Int) -> Bool { sweepExecutor(forRuns: count) != nil }

    /// For a finding trained through the sweep engine (`--executor`, or by default when it trains
    /// several runs from the command line): trains `points` (run directories ROOT/NAME, as its
    /// `RunCache` names them) with the executor, so that the finding's own loop then finds them
    /// finished and only evaluates. Under `--report-only` nothing is trained; returns the indices
    /// of the points that are done (all of them otherwise), and writes the sweep report
    /// (ROOT/report/) over them.
    public func trainThroughSweep(_ points: [SweepPoint], in root: URL) throws -> [Int] {
        guard let executor = sweepExecutor(forRuns: points.count) else {
            return Array(points.indices)
        }
        // The default executor adds to a folder's manifest (seeds added later); an explicit one
        // keeps a folder to one sweep.
        let extending = self.executor == nil
        if reportOnly {
            let manifest = try SweepManifest.read(root)
            // The points asked for must be points of the sweep there (a subset of its seeds is fine).
            for p in points where !manifest.points.contains(p) {
                throw SweepError.otherSweep(SweepManifest.url(root).path, "it has no point \(p.name) with this configuration")
            }
            let status = SweepStatus(folder: root, manifest: manifest)
            let doneNames = Set(status.points.filter { $0.state == .done }.map(\.name))
            let done = points.indices.filter { doneNames.contains(points[$0].name) }
            guard !done.isEmpty else {
                throw SweepError.failed("--report-only: no point of \(root.path) has finished (`mesa sweep status \(root.path)`)")
            }
            try SweepReport(folder: root, manifest: manifest).write()
            return done
        }
        if fresh, FileManager.default.fileExists(atPath: root.path) {
            for p in points { try? FileManager.default.removeItem(at: root.appendingPathComponent(p.name)) }
            if !extending {
                try? FileManager.default.removeItem(at: SweepManifest.url(root))
            } else if var kept = try? SweepManifest.read(root) {
                // Only the points asked for are replaced; the folder's other points stay listed.
                kept.points.removeAll { p in points.contains { $0.name == p.name } }
                if kept.points.isEmpty { try? FileManager.default.removeItem(at: SweepManifest.url(root)) } else { try kept.write(root) }
            }
        }
        let manifest = try SweepManifest.prepare(root, points: points, extending: extending)
        try executor.run(folder: root, manifest: manifest)
        try SweepReport(folder: root, manifest: manifest).write()
        return Array(points.indices)
    }
}
