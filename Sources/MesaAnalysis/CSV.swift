import Foundation
import MesaTensor

/// Comma-separated tables: the data beside every figure, readable by pandas and gnuplot.
public enum CSV {
    public static func format(header: [String], rows: [[Double]]) -> String {
        var lines = [header.joined(separator: ",")]
        for r in rows { lines.append(r.map { $0.isFinite ? String($0) : "" }.joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func write(header: [String], rows: [[Double]], to url: URL) throws {
        try AtomicFile.write(format(header: header, rows: rows), to: url)
    }

    /// A matrix as rows of numbers, no header (gnuplot's `matrix` format).
    public static func writeMatrix(_ m: [Double], rows: Int, cols: Int, to url: URL) throws {
        precondition(m.count == rows * cols)
        let text = (0..<rows).map { r in (0..<cols).map { String(m[r * cols + $0]) }.joined(separator: ",") }
            .joined(separator: "\n") + "\n"
        try AtomicFile.write(text, to: url)
    }

    /// Reads a table with a header row into columns by name.
    public static func read(_ url: URL) throws -> [String: [Double]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init) else { return [:] }
        var cols = [String: [Double]]()
        for h in header { cols[h] = [] }
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            for (h, c) in zip(header, cells) { cols[h]!.append(Double(c) ?? .nan) }
        }
        return cols
    }
}
