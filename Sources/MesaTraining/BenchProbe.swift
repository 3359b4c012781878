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
    private var reading = Reading()
    private var failed = false

    /// What the file holds: one `name value` line per value known.
    public struct Reading: Equatable {
        public var firstStepNanoseconds: UInt64?
        public var peakResidentBytes: UInt64?

        static let firstStepName = "first_step_ns", peakName = "peak_resident_bytes"

        var text: String {
            [(Self.firstStepName, firstStepNanoseconds), (Self.peakName, peakResidentBytes)]
                .compactMap { name, value in value.map { "\(name) \($0)\n" } }.joined()
        }

        init() {}

        init(text: String) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
                switch parts[0] {
                case Self.firstStepName: firstStepNanoseconds = value
                case Self.peakName: peakResidentBytes = value
                default: break
                }
            }
        }
    }

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
        guard reading.firstStepNanoseconds == nil else { return }
        reading.firstStepNanoseconds = Self.now()
        write()
    }

    /// Records the peak memory, at the end of the run.
    public func finish() {
        reading.peakResidentBytes = Self.peakResidentBytes()
        write()
    }

    /// A file that cannot be written is said once on standard error and does not stop the run.
    private func write() {
        guard !failed else { return }
        do {
            try reading.text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            failed = true
            let reason = (error as NSError).localizedDescription
            FileHandle.standardError.write(Data("could not write \(Self.environmentKey) file \(path) (\(reason)); the run goes on\n".utf8))
        }
    }

    /// What the file at `path` holds (nothing known when there is no such file).
    public static func read(_ path: String) -> Reading {
        (try? String(contentsOfFile: path, encoding: .utf8)).map(Reading.init(text:)) ?? Reading()
    }
}
