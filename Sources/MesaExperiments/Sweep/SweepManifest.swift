import Foundation
import MesaTensor
import MesaTraining

/// SWEEP/sweep.json: the points of a sweep (each an ordinary run directory SWEEP/NAME), written
/// before any point starts, so that `mesa sweep status`, `report` and a resubmission know what the
/// sweep is. A folder keeps one sweep: asking it for another is refused, naming the difference.
public struct SweepManifest: Codable, Equatable {
    public static let format = "mesa-sweep-1"
    public static let fileName = "sweep.json"
    /// Names a point may not take: the sweep's own files and folders.
    static let reservedNames: Set<String> = ["sweep.json", "slurm", "logs", "report", "points"]

    public var format: String
    public var points: [SweepPoint]
    /// Slurm job ids submitted for this sweep, oldest first, with the point indices each ran.
    public var slurmJobs: [SlurmJob]

    public struct SlurmJob: Codable, Equatable {
        public var id: String
        public var points: [Int]
    }

    public init(points: [SweepPoint]) {
        format = Self.format
        self.points = points
        slurmJobs = []
    }

    public static func url(_ folder: URL) -> URL { folder.appendingPathComponent(fileName) }

    public static func read(_ folder: URL) throws -> SweepManifest {
        let url = url(folder)
        guard FileManager.default.fileExists(atPath: url.path) else { throw SweepError.notASweep(folder.path) }
        let m: SweepManifest
        do {
            m = try JSONDecoder().decode(SweepManifest.self, from: Data(contentsOf: url))
        } catch {
            throw MesaIOError.corrupt(url.path, "not a sweep manifest: \(error)")
        }
        guard m.format == format else { throw MesaIOError.corrupt(url.path, "format \(m.format), expected \(format)") }
        return m
    }

    public func write(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(self, to: Self.url(folder))
    }

    /// The manifest of `points` in `folder`: the folder's own when it holds the same points (a sweep
    /// run again resumes), written when it holds none. Refuses, before writing anything, a folder
    /// holding another sweep's manifest and a point directory holding a run of another configuration.
    /// With `extending` (how `mesa reproduce` trains a finding's runs side by side by default), a
    /// folder holding a manifest of other points keeps them and gains the new ones, and the
    /// manifest returned holds only `points`, the ones to train now; a point of the same name and
    /// another configuration is still refused. Meant for the local executor only (Slurm job
    /// records index the manifest's points).
    public static func prepare(_ folder: URL, points: [SweepPoint], extending: Bool = false) throws -> SweepManifest {
        guard !points.isEmpty else { throw SweepError.noPoints("nothing to run") }
        var seen: Set<String> = []
        for p in points {
            guard !reservedNames.contains(p.name), !p.name.contains("/"), !p.name.hasPrefix("."), seen.insert(p.name).inserted else {
                throw SweepError.badSpec("point name '\(p.name)' is reserved, repeated or not a plain name")
            }
        }
        var manifest = SweepManifest(points: points)
        let exists = FileManager.default.fileExists(atPath: url(folder).path)
        var toWrite: SweepManifest? = exists ? nil : manifest
        if exists && extending {
            var existing = try read(folder)
            for p in points {
                if let e = existing.points.first(where: { $0.name == p.name }) {
                    guard e == p else { throw SweepError.otherSweep(url(folder).path, difference([e], [p])) }
                } else {
                    existing.points.append(p)
                    toWrite = existing
                }
            }
        } else if exists {
            let existing = try read(folder)
            guard existing.points == points else {
                throw SweepError.otherSweep(url(folder).path, difference(existing.points, points))
            }
            manifest = existing
        }
        for p in points {
            let dir = RunDirectory(folder.appendingPathComponent(p.name))
            if dir.exists {
                let saved = try dir.readConfig()
                if !ConfigJSON.differences(saved, p.config).isEmpty {
                    throw SweepError.pointHoldsOtherRun(dir.url.path)
                }
            }
        }
        try toWrite?.write(folder)
        return manifest
    }

    static func difference(_ old: [SweepPoint], _ new: [SweepPoint]) -> String {
        if old.count != new.count { return "\(old.count) points there, \(new.count) asked for" }
        for (a, b) in zip(old, new) where a != b {
            if a.name != b.name { return "point \(a.name) there, \(b.name) asked for" }
            let d = ConfigJSON.differences(a.config, b.config, ignoring: [])
            return "point \(a.name): " + (d.isEmpty ? "other assignments" : d.joined(separator: "; "))
        }
        return "same points"
    }
}
