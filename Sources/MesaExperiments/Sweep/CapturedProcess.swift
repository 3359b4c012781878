import Foundation

/// A child process run to its end with its standard output and error captured: the Slurm
/// commands the cluster executor calls, and the `mesa` tool the tests run.
public enum CapturedProcess {
    public struct Result: Sendable {
        public let status: Int32, out: String, err: String
    }

    /// Runs `executable` with `arguments` and this process's environment, `environment` added and
    /// the variables `unset` removed, and waits. Standard output and error are read side by side,
    /// so a child that fills one pipe never waits on a reader blocked on the other.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                           unset: [String] = []) throws -> Result {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !unset.contains($0.key) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let errBytes = ErrorBytes()
        let reader = Thread { errBytes.data = err.fileHandleForReading.readDataToEndOfFile(); errBytes.done.signal() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        errBytes.done.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self),
                      err: String(decoding: errBytes.data, as: UTF8.self))
    }
}

/// Standard error's bytes, written by the reader thread before it signals.
private final class ErrorBytes: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
