import Foundation

/// The `mesa` tool built beside the tests (`scripts/test.sh` builds it), run as a user runs it.
/// One copy for every test target that runs the tool.
public enum MesaTool {
    /// .build/release/mesa, else .build/debug/mesa, of this checkout; nil when neither is built.
    public static let binary: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for config in ["release", "debug"] {
            let u = root.appendingPathComponent(".build/\(config)/mesa")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }()

    public struct Result: Sendable {
        public let status: Int32, out: String, err: String
    }

    public struct NotBuilt: Error, CustomStringConvertible {
        public var description: String { "build the tool first: swift build -c release (scripts/test.sh does)" }
    }

    /// Runs the tool with `args`, this process's environment with `environment` added and the
    /// variables `unset` removed, and waits. Standard output and error are read side by side, so
    /// that a child filling one pipe never waits on a reader blocked on the other.
    public static func run(_ args: [String], environment: [String: String] = [:], unset: [String] = []) throws -> Result {
        guard let binary else { throw NotBuilt() }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
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
