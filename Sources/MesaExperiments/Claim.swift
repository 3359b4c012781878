import Foundation
import MesaTensor

/// One claim of a finding with what was measured and whether it held. Claims are computed from
/// measured numbers only (each finding's `claims(_:)` is a pure function of its measurements), so
/// their thresholds are tested without training.
public struct Claim: Codable, Equatable {
    public let statement: String
    public let measured: String
    public let holds: Bool

    public init(statement: String, measured: String, holds: Bool) {
        self.statement = statement
        self.measured = measured
        self.holds = holds
    }

    public var markdownRow: String { "| \(statement) | \(measured) | \(holds ? "matched" : "**not matched**") |" }

    /// The report's table of claims.
    public static func table(_ claims: [Claim]) -> String {
        "| claim | measured | result |\n|---|---|---|\n" + claims.map(\.markdownRow).joined(separator: "\n")
    }
}

/// A finding's report.md: written atomically (a crash leaves the previous report as it was) and
/// only when it has claims, so an empty run never replaces a real report.
public enum Report {
    public static func write(_ markdown: String, claims: [Claim], to url: URL) throws {
        guard !claims.isEmpty else { throw ReproductionError.emptyReport(url.path) }
        try AtomicFile.write(markdown, to: url)
    }
}
