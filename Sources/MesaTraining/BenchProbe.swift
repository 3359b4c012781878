import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `mesa bench` learns from a `mesa train` process it times (issue 14's time to first step and
/// peak memory). The benchmark starts the process with `MESA_BENCH_PROBE` naming a file, and
/// `mesa train` writes into it:
/// - `first_step_ns`: `CLOCK_MONOTONIC` at the end of the first optimizer step it takes. That clock
///   is one for every process on the machine, so the benchmark subtracts the moment it started
///   the process: process start to the first optimizer step done, as the issue defines the time.
/// - `peak_resident_bytes`: the process's VmHWM (/proc/self/status) when it is done. The child's
///   `ru_maxrss` from `wait4` cannot be used: Linux keeps in it the peak of the memory the process
///   ran in before its `exec`, and a child of `posix_spawn` (or `fork`) runs there in its parent's,
///   so it reported the benchmark's own ~620 MiB for softmax-7's 1-step run of ~240 MiB.
/// A run without the variable writes nothing; nothing else reads the file.
public final class BenchProbe {
    public static let environmentKey = "MESA_BENCH_PROBE"

    let path: String
    private var firstStep: UInt64?
    private var failed = false

    public init(path: String) { self.path = path }

    /// The probe named by the environment, if any.
    public static func fromEnvironment() -> BenchProbe? {
        ProcessInfo.processInfo.environment[environmentKey].flatMap { $0.isEmpty ? nil : BenchProbe(path: $0) }
    }

    /// Nanoseconds of `CLOCK_MONOTONIC`.
    public static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// This process's peak resident set size since its `exec` (VmHWM), in bytes.
    public static func peakResidentBytes() -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ UInt64($0) })
        else { return nil }
        return kib * 1024
    }

    /// Records the first call's moment; later calls do nothing.
    public func stepDone() {
        guard firstStep == nil else { return }
        firstStep = Self.now()
        write(["first_step_ns": firstStep!])
    }

    /// Records the peak memory, at the end of the run.
    public func finish() {
        var values: [String: UInt64] = [:]
        if let firstStep { values["first_step_ns"] = firstStep }
        if let peak = Self.peakResidentBytes() { values["peak_resident_bytes"] = peak }
        write(values)
    }

    /// A file that cannot be written is said once on standard error and does not stop the run.
    private func write(_ values: [String: UInt64]) {
        guard !failed else { return }
        let text = values.keys.sorted().map { "\($0) \(values[$0]!)\n" }.joined()
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            failed = true
            let reason = (error as NSError).localizedDescription
            FileHandle.standardError.write(Data("could not write \(Self.environmentKey) file \(path) (\(reason)); the run goes on\n".utf8))
        }
    }

    /// The values written at `path` (empty when there is no such file).
    public static func read(_ path: String) -> [String: UInt64] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1]) { values[String(parts[0])] = v }
        }
        return values
    }
}
