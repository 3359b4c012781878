import ArgumentParser
import Foundation
import MesaExperiments
import MesaTraining

/// `mesa sweep run|status|report`: many `mesa train` runs as one sweep (MesaExperiments/Sweep).
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a grid of training runs (presets × --set values × seeds) locally or on Slurm, and pool them.",
        discussion: """
        mesa sweep run runs/sw --preset linear-1 --seeds 0-4 --steps 3000
        mesa sweep run runs/sw --preset linear-2 --set model.heads=2,4 --seeds 0-2 --executor slurm
        mesa sweep run runs/sw --file sweep.json        (presets, seeds, set, grid: see SweepSpec)
        mesa sweep status runs/sw
        mesa sweep report runs/sw                         (runs/sw/report/: bands over seeds, tables, CSV)

        Every point is an ordinary run directory DIR/NAME (resumable, locked while it trains); \
        DIR/sweep.json lists them. Running the same sweep again continues it from its checkpoints.
        """,
        subcommands: [SweepRun.self, SweepStatusCommand.self, SweepReportCommand.self],
        defaultSubcommand: SweepRun.self)
}

struct SweepRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Expand a grid or a sweep file into run directories under DIR and train them.",
        discussion: """
        The local executor runs one single-threaded `mesa train` per core (measured faster than one \
        run at a time on every core: BENCHMARKS.md); the slurm executor submits a job array, follows \
        it with squeue, and resubmits the points that stopped early (they resume from their checkpoints). \
        Without grid options, DIR's own sweep.json is continued.
        """)

    @Argument(help: "The sweep folder (sweep.json and one run directory per point).") var dir: String
    @Option(name: .customLong("preset"), help: "Preset to start from (repeatable: one set of points per preset).")
    var presets: [String] = []
    @Option(help: "Seeds: 0-4, 0,2,7 or 0-2,9 (default 0).") var seeds: String?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("field=value or field=a,b,c (a grid axis); repeatable.", valueName: "field=values"))
    var assignments: [String] = []
    @Option(parsing: .unconditional, help: "Number of optimizer steps (every point).") var steps: Int?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per batch.") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Sequence length T.") var length: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate.") var lr: Double?
    @Option(parsing: .unconditional, help: "Linear warm-up steps.") var warmup: Int?
    @Option(help: "A JSON sweep file instead of the grid options.") var file: String?
    @Option(help: "local (default) or slurm.") var executor = "local"
    @Option(help: "Local: runs at once (default: one per core).") var processes: Int?
    @Option(help: "Local: threads per run (default 1).") var threads: Int?
    @Option(name: .customLong("slurm-limit"), help: "Slurm: array tasks running at once (--array …%N).") var slurmLimit = 16
    @Option(name: .customLong("slurm-time"), help: "Slurm: time limit per task (--time).") var slurmTime = "1-00:00:00"
    @Option(name: .customLong("slurm-cpus"), help: "Slurm: CPUs (and threads) per task.") var slurmCPUs = 1
    @Option(name: .customLong("slurm-partition"), help: "Slurm: partition.") var slurmPartition: String?
    @Option(name: .customLong("slurm-attempts"), help: "Slurm: submissions in all before giving up on a point.") var slurmAttempts = 3
    @Option(name: .customLong("slurm-poll"), help: "Slurm: seconds between squeue polls.") var slurmPoll = 5.0
    @Flag(help: "Run more than \(SweepSpec.maximumPoints) points.") var yes = false
    @Flag(name: .customLong("no-report"), help: "Do not write DIR/report/ at the end.") var noReport = false
    @Flag(help: "No progress lines.") var quiet = false

    var hasGrid: Bool {
        !presets.isEmpty || seeds != nil || !assignments.isEmpty || steps != nil || batchSize != nil || length != nil
            || lr != nil || warmup != nil
    }

    func spec() throws -> SweepSpec {
        var set: [String: String] = [:], grid: [String: [String]] = [:]
        func put(_ field: String, _ value: String) throws {
            if set[field] != nil || grid[field] != nil { throw CommandError("--set \(field) is given twice") }
            let values = SweepSpec.splitValues(value)
            if values.count > 1 { grid[field] = values } else { set[field] = value }
        }
        if let steps { try put("steps", String(steps)) }
        if let batchSize { try put("batchSize", String(batchSize)) }
        if let length { try put("length", String(length)) }
        if let lr { try put("schedule.peak", String(lr)) }
        if let warmup { try put("schedule.warmupSteps", String(warmup)) }
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else { throw CommandError("--set expects field=value, got '\(a)'") }
            try put(String(a[..<eq]), String(a[a.index(after: eq)...]))
        }
        return SweepSpec(presets: presets.isEmpty ? ["linear-2"] : presets,
                         seeds: try seeds.map(SweepSpec.parseSeeds) ?? [0], set: set, grid: grid)
    }

    func run() throws {
        let folder = URL(fileURLWithPath: dir)
        // Everything is checked before anything is written: the executor, the grid, the folder.
        let exec: SweepExecutor
        switch executor.lowercased() {
        case "local":
            exec = .local(LocalExecutor(processes: processes ?? LocalExecutor.defaultProcesses, threadsPerProcess: threads ?? 1,
                                        progress: !quiet))
        case "slurm":
            try SlurmExecutor.checkAvailable()
            exec = .slurm(SlurmExecutor(concurrency: slurmLimit, timeLimit: slurmTime, cpusPerTask: slurmCPUs,
                                        partition: slurmPartition, attempts: slurmAttempts, pollSeconds: slurmPoll,
                                        progress: !quiet))
        default: throw CommandError("--executor must be local or slurm, got '\(executor)'")
        }
        let manifest: SweepManifest
        if let file {
            if hasGrid { throw CommandError("give either --file or grid options (--preset, --seeds, --set, …), not both") }
            let points = try SweepSpec.read(URL(fileURLWithPath: file)).points(maximum: yes ? nil : SweepSpec.maximumPoints)
            manifest = try SweepManifest.prepare(folder, points: points)
        } else if hasGrid {
            manifest = try SweepManifest.prepare(folder, points: spec().points(maximum: yes ? nil : SweepSpec.maximumPoints))
        } else if FileManager.default.fileExists(atPath: SweepManifest.url(folder).path) {
            manifest = try SweepManifest.read(folder)
        } else {
            throw CommandError("\(dir) holds no sweep yet: give --preset/--seeds/--set or --file to define one")
        }
        Interrupt.install()
        let status: SweepStatus
        do {
            status = try exec.run(folder: folder, manifest: manifest)
        } catch let ReproductionError.interrupted(what) where Interrupt.requested {
            FileHandle.standardError.write(Data(("stopped by \(Interrupt.signalName ?? "request"): \(what); every point keeps its "
                + "checkpoint; `mesa sweep run \(dir)` continues\n").utf8))
            throw ExitCode(Interrupt.exitStatus)
        }
        print(status.table)
        if !noReport {
            let report = try SweepReport(folder: folder, manifest: manifest).write()
            print("report: \(report.path)")
        }
    }
}

struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show each point of a sweep: done, running, queued, stopped, failed or not started.")

    @Argument(help: "The sweep folder.") var dir: String

    func run() throws {
        let folder = URL(fileURLWithPath: dir)
        let manifest = try SweepManifest.read(folder)
        var queue: [Int: (task: String, state: String)] = [:]
        if !manifest.slurmJobs.isEmpty {
            if SlurmExecutor.tool("squeue") != nil {
                queue = try SlurmExecutor.queue(manifest)
            } else {
                FileHandle.standardError.write(Data("squeue is not on the PATH: states are read from the run directories alone\n".utf8))
            }
        }
        let status = SweepStatus(folder: folder, manifest: manifest, queue: queue)
        print(status.table)
        if let last = manifest.slurmJobs.last { print("slurm jobs: " + manifest.slurmJobs.map(\.id).joined(separator: ", ") + " (last \(last.id))") }
    }
}

struct SweepReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Pool a sweep's finished points: per-position bands over seeds, final numbers, diverged points.")

    @Argument(help: "The sweep folder.") var dir: String

    func run() throws {
        let url = try SweepReport(folder: URL(fileURLWithPath: dir)).write()
        print(try String(contentsOf: url, encoding: .utf8))
        print("report: \(url.path)")
    }
}
