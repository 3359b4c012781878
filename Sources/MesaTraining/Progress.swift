import Foundation

/// Live progress on standard error: on a terminal one line rewritten in place at most ten
/// times a second; otherwise (CI, files) a line every few seconds.
public final class ProgressLine {
    private let label: String
    private let total: Int
    private let isTerminal = isatty(2) == 1
    private let start = Date()
    private var lastPrint = Date.distantPast
    private var lastStep = 0
    private var lastTime = Date()
    private var rate: Double?
    public var enabled = true

    public init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    /// Steps per second, smoothed.
    public var stepsPerSecond: Double { rate ?? 0 }

    /// Reports progress at `step` with named values (e.g. ["loss": 0.1]).
    public func update(step: Int, _ values: KeyValuePairs<String, Double?>, force: Bool = false) {
        let now = Date()
        let dt = now.timeIntervalSince(lastTime)
        if dt > 0.25, step > lastStep {
            let r = Double(step - lastStep) / dt
            rate = rate.map { 0.7 * $0 + 0.3 * r } ?? r
            lastStep = step
            lastTime = now
        }
        guard enabled else { return }
        let interval = isTerminal ? 0.1 : 5.0
        guard force || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        var parts = ["\(label) step \(step)/\(total)"]
        for (k, v) in values { if let v { parts.append("\(k) \(String(format: "%.5g", v))") } }
        if let r = rate {
            parts.append(String(format: "%.1f steps/s", r))
            if step < total { parts.append("ETA " + Self.duration(Double(total - step) / r)) }
        }
        parts.append("elapsed " + Self.duration(now.timeIntervalSince(start)))
        let line = parts.joined(separator: "  ")
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    /// Ends the in-place line.
    public func finish() {
        if enabled && isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// The signal (SIGINT or SIGTERM) that asked a run to stop; 0 while none has.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

/// Ctrl-C (SIGINT) and SIGTERM (`kill`, a scheduler's time limit, a shutdown) both set a flag
/// the training loop polls before every step: it writes a checkpoint and stops, so nothing
/// trained is lost. A second signal ends the process at once.
public enum Interrupt {
    public static func install() {
        // A parent may start us with these signals blocked (Foundation's Process does); a
        // blocked SIGTERM would stay pending forever and the run never stop.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM] {
            sigaddset(&set, sig)
            signal(sig) { s in
                if interruptRequested != 0 { _exit(128 + s) }
                interruptRequested = s
            }
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    public static var requested: Bool { interruptRequested != 0 }

    /// The signal received ("SIGTERM", "SIGINT"), nil when none.
    public static var signalName: String? {
        switch interruptRequested {
        case 0: return nil
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT (Ctrl-C)"
        default: return "signal \(interruptRequested)"
        }
    }

    /// The exit status a process stopped by the signal reports (128 + signal, as shells do).
    public static var exitStatus: Int32 { interruptRequested == 0 ? 1 : 128 + interruptRequested }

    /// For tests: pretend Ctrl-C was (or was not) pressed.
    public static func set(_ on: Bool) { interruptRequested = on ? SIGINT : 0 }
}
