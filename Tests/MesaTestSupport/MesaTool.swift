import Foundation
import MesaExperiments

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

    public typealias Result = CapturedProcess.Result

    public struct NotBuilt: Error, CustomStringConvertible {
        public var description: String { "build the tool first: swift build -c release (scripts/test.sh does)" }
    }

    /// Runs the tool with `args` (`CapturedProcess.run`: this process's environment with
    /// `environment` added and `unset` removed) and waits.
    public static func run(_ args: [String], environment: [String: String] = [:], unset: [String] = []) throws -> Result {
        guard let binary else { throw NotBuilt() }
        return try CapturedProcess.run(binary, args, environment: environment, unset: unset)
    }
}
