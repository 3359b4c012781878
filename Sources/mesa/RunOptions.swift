import ArgumentParser
import Foundation
import MesaTraining

/// The options of a command that trains into a run directory (`mesa train`, `mesa lm train`):
/// where, whether to continue, and whether to print progress.
struct RunOptions: ParsableArguments {
    @Option(help: "Run directory (default: runs/PRESET-sSEED).") var out: String?
    @Flag(help: "Continue the run in --out from its last checkpoint (only --steps may change, and only upwards).")
    var resume = false
    @Flag(help: "No progress line.") var quiet = false

    /// With --resume, the run to continue and its saved configuration; nil for a new run.
    func runToResume() throws -> (dir: RunDirectory, saved: TrainConfig)? {
        guard resume else { return nil }
        guard let out else { throw CommandError("--resume needs --out DIR, the run to continue") }
        let dir = RunDirectory(URL(fileURLWithPath: out))
        return (dir, try dir.readConfig())
    }

    /// A new run's directory: --out, or runs/PRESET-sSEED.
    func directory(for config: TrainConfig) -> RunDirectory {
        RunDirectory(URL(fileURLWithPath: out ?? "runs/\(config.preset)-s\(config.seed)"))
    }

    /// Says where a run stopped by a signal left its checkpoint and how to continue (`command`:
    /// "mesa train"), and exits with 128 + the signal's number.
    func stopped(at steps: Int, in dir: RunDirectory, command: String) -> ExitCode {
        print("stopped by \(Interrupt.signalName ?? "request") at step \(steps); checkpoint of step \(steps) "
              + "and metrics written to \(dir.url.path). Continue with: \(command) --out \(dir.url.path) --resume")
        return ExitCode(Interrupt.exitStatus)
    }
}
