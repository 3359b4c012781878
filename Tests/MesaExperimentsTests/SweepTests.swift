import Foundation
import Testing
import MesaAnalysis
import MesaExperiments
import MesaTraining
import MesaTestSupport

/// Every file under `dir` (relative path → bytes), the sweep's own logs and report left out.
func runFiles(_ dir: URL) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
    for case let u as URL in e {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir), !isDir.boolValue else { continue }
        let rel = String(u.path.dropFirst(dir.path.count + 1))
        if rel.hasPrefix("logs/") || rel.hasPrefix("report/") || rel.hasPrefix("slurm/") || rel.hasSuffix(".lock") { continue }
        out[rel] = try Data(contentsOf: u)
    }
    return out
}

/// Sweeps: grid expansion, the manifest, refusals, the local executor and the report.
@Suite struct SweepTests {
    static let tiny = ["--steps", "6", "--batch-size", "8", "--length", "12", "--set", "evalBatchSize=8",
                       "--set", "evalEvery=3", "--set", "checkpointEvery=3", "--quiet"]

    @Test func gridExpandsToOneConfiguredPointPerCombination() throws {
        let spec = SweepSpec(presets: ["linear-1", "linear-2"], seeds: [0, 4], set: ["steps": "7"],
                             grid: ["model.heads": ["2", "4"], "schedule.peak": ["0.001", "3e-4", "1e-4"]])
        let points = try spec.points()
        #expect(points.count == 2 * 2 * 3 * 2)
        #expect(Set(points.map(\.name)).count == points.count)
        #expect(points[0].name == "linear-1-heads2-peak0.001-s0" && points[1].name == "linear-1-heads2-peak0.001-s4", "\(points[0].name)")
        for p in points {
            #expect(p.config.steps == 7 && p.config.preset == p.name.split(separator: "-").prefix(2).joined(separator: "-"))
            #expect(try SweepPoint(name: "x", preset: p.preset, assignments: p.assignments).config == p.config)
        }
        #expect(points.filter { $0.config.model.heads == 4 && $0.config.schedule.peak == 1e-4 && $0.config.seed == 4 }.count == 2)
        // One configuration per (preset, heads, peak), pooling the two seeds.
        #expect(Set(points.map(\.configurationKey)).count == 12)

        #expect(try SweepSpec.parseSeeds("0-4") == [0, 1, 2, 3, 4])
        #expect(try SweepSpec.parseSeeds("0-2,9") == [0, 1, 2, 9])
        #expect(SweepSpec.splitValues(#"{"kind":"globalNorm","value":1},null"#) == [#"{"kind":"globalNorm","value":1}"#, "null"])
        #expect(SweepSpec.splitValues("2,4") == ["2", "4"])

        let file = temporaryDirectory("sweep.json")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try #"{"presets": ["linear-1"], "seeds": "0-2", "set": {"steps": 5, "clipping": {"kind": "globalNorm", "value": 1}}, "grid": {"model.heads": [2, 4]}}"#
            .write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try SweepSpec.read(file).points()
        #expect(fromFile.count == 6 && fromFile.allSatisfy { $0.config.steps == 5 && $0.config.clipping == .globalNorm(1) })
    }

    /// A finding's exact configuration (F1 quick and paper) round-trips through preset + assignments.
    @Test func anyConfigurationBecomesAPoint() throws {
        for profile in ["quick", "paper"] {
            let c = try FindingF1.config(profile: profile, seed: 3)
            let p = try SweepPoint(name: "linear-1-s3", config: c)
            #expect(p.config == c && p.preset == "linear-1")
            #expect(p.assignments.contains("seed=3"))
            #expect(p.assignments.contains("steps=20000") == (profile == "paper"), "\(p.assignments)")
        }
    }

    @Test func badSweepsAreRefusedBeforeAnythingIsWritten() throws {
        #expect(throws: SweepError.self) { try SweepSpec(presets: ["linear-1"], seeds: []).points() }
        #expect(throws: SweepError.self) { try SweepSpec(presets: ["linear-1"], seeds: [0], grid: ["model.heads": []]).points() }
        do { _ = try SweepSpec(presets: ["linear-1"], seeds: Array(0..<65)).points(); Issue.record("65 points accepted") } catch {
            #expect("\(error)".contains("65 points") && "\(error)".contains("--yes"), "\(error)")
        }
        #expect(try SweepSpec(presets: ["linear-1"], seeds: Array(0..<65)).points(maximum: nil).count == 65)
        do { _ = try SweepSpec(presets: ["linear-1"], seeds: [0], grid: ["model.hedas": ["2", "4"]]).points(); Issue.record("unknown field") } catch {
            #expect("\(error)".contains("model.hedas"), "\(error)")
        }

        // Through the tool: clear message, non-zero status, nothing written.
        let dir = temporaryDirectory("sw")
        for (args, words) in [(["--preset", "linear-1", "--seeds", ","], ["no points", "seed list is empty"]),
                              (["--preset", "linear-1", "--seeds", "0-99"], ["100 points", "--yes"]),
                              (["--preset", "linear-1", "--set", "model.hedas=2,4"], ["model.hedas"]),
                              (["--preset", "nope"], ["nope"]),
                              ([], ["holds no sweep"])] {
            let r = try MesaTool.run(["sweep", "run", dir.path] + args)
            #expect(r.status != 0, "\(args) succeeded")
            for w in words { #expect(r.err.contains(w), "\(args): '\(r.err)' lacks '\(w)'") }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path), "a refused sweep wrote \(dir.path)")
        let noSlurm = try MesaTool.run(["sweep", "run", dir.path, "--preset", "linear-1", "--executor", "slurm"],
                                       environment: ["PATH": "/nonexistent"])
        #expect(noSlurm.status != 0 && noSlurm.err.contains("sbatch"), "\(noSlurm.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.path))

        // A folder holding another sweep keeps its manifest.
        let a = try SweepSpec(presets: ["linear-1"], seeds: [0]).points()
        _ = try SweepManifest.prepare(dir, points: a)
        let before = try Data(contentsOf: SweepManifest.url(dir))
        do { _ = try SweepManifest.prepare(dir, points: SweepSpec(presets: ["linear-1"], seeds: [1]).points()); Issue.record("other sweep") } catch {
            #expect("\(error)".contains("another sweep") && "\(error)".contains("linear-1-s0"), "\(error)")
        }
        let r = try MesaTool.run(["sweep", "run", dir.path, "--preset", "linear-2"])
        #expect(r.status != 0 && r.err.contains("another sweep"), "\(r.err)")
        #expect(try Data(contentsOf: SweepManifest.url(dir)) == before)
        // The same sweep again is the same manifest (it resumes).
        #expect(try SweepManifest.prepare(dir, points: a) == SweepManifest.read(dir))
    }

    /// Two seeds through the local executor: each point's files are byte-identical to the same run
    /// trained directly in this process on all threads; the status says done; the report's bands
    /// are the mean and sd of the points' own curves; a point whose loss ends above its start is
    /// flagged as diverged.
    @Test func localSweepTrainsOrdinaryRunsAndReportsBands() throws {
        let dir = temporaryDirectory("sw")
        let r = try MesaTool.run(["sweep", "run", dir.path, "--preset", "linear-1", "--seeds", "0-2", "--processes", "2"] + Self.tiny)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("3 points: 3 done"), "\(r.out)")
        let manifest = try SweepManifest.read(dir)
        #expect(manifest.points.map(\.name) == ["linear-1-s0", "linear-1-s1", "linear-1-s2"])
        for p in manifest.points {
            let direct = RunDirectory(temporaryDirectory("direct"))
            _ = try TrainingRun.run(config: p.config, in: direct, resume: false, progress: false)
            for f in ["config.json", "metrics.csv", "checkpoint.safetensors"] {
                #expect(try Data(contentsOf: dir.appendingPathComponent("\(p.name)/\(f)")) == Data(contentsOf: direct.url.appendingPathComponent(f)),
                        "\(p.name)/\(f) differs from a direct run")
            }
        }
        let status = try MesaTool.run(["sweep", "status", dir.path])
        #expect(status.status == 0 && status.out.contains("linear-1-s1") && status.out.contains("3 points: 3 done"), "\(status.out)")

        // Running it again trains nothing.
        let before = try runFiles(dir)
        let again = try MesaTool.run(["sweep", "run", dir.path, "--no-report", "--quiet"])
        let after = try runFiles(dir)
        #expect(again.status == 0 && after == before)

        let report = try SweepReport(folder: dir)
        #expect(report.configurations.count == 1 && report.results.count == 3)
        let curves = report.results.map(\.perPosition)
        #expect(curves.allSatisfy { $0.count == 12 })
        let csv = try CSV.read(dir.appendingPathComponent("report/per_position.csv"))
        for t in 0..<12 {
            let xs = curves.map { $0[t] }
            let mean = xs.reduce(0, +) / 3
            let sd = (xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
            #expect(abs(csv["c1_mean"]![t] - mean) <= 1e-12 * max(1, mean) && abs(csv["c1_sd"]![t] - sd) <= 1e-9 * max(1, sd))
        }
        #expect(sdsAreNotAllZero(csv["c1_sd"]!))
        for f in ["report.md", "per_position.png", "per_position.svg", "points.csv", "configurations.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report/\(f)").path), "missing \(f)")
        }
        #expect(report.results.allSatisfy { $0.diverged == nil })

        // A final held-out loss above the step-0 loss flags the point.
        let metrics = dir.appendingPathComponent("linear-1-s2/metrics.csv")
        var lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").map(String.init)
        var last = lines.removeLast().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        last[4] = "1e6"
        try (lines + [last.joined(separator: ",")]).joined(separator: "\n").appending("\n").write(to: metrics, atomically: true, encoding: .utf8)
        let flagged = try SweepReport(folder: dir)
        #expect(flagged.results.map { $0.diverged != nil } == [false, false, true])
        let md = try String(contentsOf: flagged.write(), encoding: .utf8)
        #expect(md.contains("**1 point(s) diverged**: linear-1-s2"))
        #expect(flagged.bands()[0].seeds == 2)
    }

    /// A finding's runs through the sweep engine: trained by the executor, then reused by its run
    /// cache without a step; --report-only keeps the finished points.
    @Test func findingsTrainThroughTheSweepEngine() throws {
        let root = temporaryDirectory("F0")
        let points = try [0, 1].map { s -> SweepPoint in
            var c = try tinyConfig(steps: 4)
            c.seed = UInt64(s)
            return try SweepPoint(name: "t-s\(s)", config: c)
        }
        let options = ReproductionOptions(outputRoot: root.deletingLastPathComponent(), progress: false,
                                          executor: .local(LocalExecutor(processes: 2, progress: false)))
        #expect(try options.trainThroughSweep(points, in: root) == [0, 1])
        var polled = 0
        for p in points {
            try options.runCache(root).train(p.config, name: p.name, label: "test", shouldStop: { polled += 1; return false })
        }
        #expect(polled == 0, "the sweep's runs were trained again")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("report/per_position.csv").path))

        try FileManager.default.removeItem(at: root.appendingPathComponent("t-s1/checkpoint.safetensors"))
        let reportOnly = ReproductionOptions(outputRoot: root.deletingLastPathComponent(), progress: false, reportOnly: true)
        #expect(try reportOnly.trainThroughSweep(points, in: root) == [0])
        #expect(try reportOnly.trainThroughSweep([points[0]], in: root) == [0])
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("t-s1/checkpoint.safetensors").path))

        let r = try MesaTool.run(["reproduce", "F3", "--executor", "local", "--out", root.path])
        #expect(r.status != 0 && r.err.contains("F1, F2, F4"), "\(r.err)")
        let only = try MesaTool.run(["reproduce", "F4", "--report-only", "--out", root.path])
        #expect(only.status != 0 && only.err.contains("--report-only is supported by F1"), "\(only.err)")
        let bad = try MesaTool.run(["reproduce", "F1", "--executor", "cluster", "--out", root.path])
        #expect(bad.status != 0 && bad.err.contains("local, slurm or inline"), "\(bad.err)")
    }

    /// `mesa reproduce`'s default manifest grows with the seeds asked for; the points asked for
    /// are the ones returned (to train now); another configuration under a known name is refused.
    @Test func reproductionsExtendTheirFoldersManifest() throws {
        let root = temporaryDirectory("F0x")
        let points = try [0, 1, 2].map { s -> SweepPoint in
            var c = try tinyConfig(steps: 4)
            c.seed = UInt64(s)
            return try SweepPoint(name: "t-s\(s)", config: c)
        }
        _ = try SweepManifest.prepare(root, points: [points[0]], extending: true)
        let now = try SweepManifest.prepare(root, points: [points[1], points[2]], extending: true)
        #expect(now.points == [points[1], points[2]])
        #expect(try SweepManifest.read(root).points == points)
        #expect(throws: SweepError.self) { try SweepManifest.prepare(root, points: [points[1]]) }
        var other = try tinyConfig(steps: 5)
        other.seed = 1
        #expect(throws: SweepError.self) {
            try SweepManifest.prepare(root, points: [try SweepPoint(name: "t-s1", config: other)], extending: true)
        }
        #expect(try SweepManifest.read(root).points == points, "a refused call changed the manifest")
    }

    /// Several seeds from the command line train side by side by default (one process per core):
    /// the same bytes as one after another in the process (`--executor inline`), and a report.
    @Test func severalSeedsTrainSideBySideByDefault() throws {
        let sideBySide = temporaryDirectory("side"), inline = temporaryDirectory("inline")
        let a = try MesaTool.run(["reproduce", "F1", "--profile", "smoke", "--seeds", "0,1", "--quiet", "--out", sideBySide.path])
        #expect(a.status == 0, "\(a.err)")
        let b = try MesaTool.run(["reproduce", "F1", "--profile", "smoke", "--seeds", "0,1", "--quiet", "--executor", "inline",
                                  "--out", inline.path])
        #expect(b.status == 0, "\(b.err)")
        let f1a = sideBySide.appendingPathComponent("F1"), f1b = inline.appendingPathComponent("F1")
        #expect(try SweepManifest.read(f1a).points.map(\.name) == ["linear-1-s0", "linear-1-s1"])
        #expect(!FileManager.default.fileExists(atPath: SweepManifest.url(f1b).path))
        for seed in 0...1 {
            for file in ["checkpoint.safetensors", "metrics.csv", "config.json"] {
                let x = try Data(contentsOf: f1a.appendingPathComponent("linear-1-s\(seed)/\(file)"))
                let y = try Data(contentsOf: f1b.appendingPathComponent("linear-1-s\(seed)/\(file)"))
                #expect(x == y, "seed \(seed): \(file) differs")
            }
        }
        #expect(FileManager.default.fileExists(atPath: f1a.appendingPathComponent("report.md").path))
        // A third seed later joins the same folder's sweep.
        let c = try MesaTool.run(["reproduce", "F1", "--profile", "smoke", "--seeds", "1,2", "--quiet", "--out", sideBySide.path])
        #expect(c.status == 0, "\(c.err)")
        #expect(try SweepManifest.read(f1a).points.map(\.name) == ["linear-1-s0", "linear-1-s1", "linear-1-s2"])
    }

    func sdsAreNotAllZero(_ sd: [Double]) -> Bool { sd.contains { $0 > 0 } }
}
