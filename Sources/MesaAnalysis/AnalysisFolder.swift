import Foundation
import MesaTensor
import MesaTraining

/// Why an analysis cannot be run on a run directory; each names what is missing (issue 10:
/// "bad input says so and exits non-zero").
public enum AnalysisError: Error, CustomStringConvertible {
    case noSuchLayer(Int, layers: Int)
    case noSoftmaxLayers(String)
    case notAttentionWeights(layer: Int, kind: String)
    case badOption(String)

    public var description: String {
        switch self {
        case let .noSuchLayer(l, count): return "layer \(l) does not exist: the model has layers 1…\(count)"
        case let .noSoftmaxLayers(path): return "\(path): the model has no softmax layers to linearize"
        case let .notAttentionWeights(l, kind): return "layer \(l) is a \(kind) layer, which has no attention weights to draw"
        case let .badOption(why): return why
        }
    }

    /// 1-based layer numbers checked against a model of `count` layers, as 0-based indices.
    public static func layerIndices(_ numbers: [Int], count: Int) throws -> [Int] {
        for l in numbers where l < 1 || l > count { throw AnalysisError.noSuchLayer(l, layers: count) }
        return numbers.map { $0 - 1 }
    }
}

/// RUN/analysis/NAME, written atomically: an analysis writes into a hidden staging folder beside
/// it, which replaces NAME only once everything is written. A failed analysis leaves the run
/// directory as it was (the previous NAME included); nothing else in RUN is touched.
public enum AnalysisFolder {
    public static func url(_ run: RunDirectory, _ name: String) -> URL {
        run.url.appendingPathComponent("analysis").appendingPathComponent(name)
    }

    /// Runs `body` with the staging folder, then moves it to RUN/analysis/NAME.
    public static func write<T>(_ run: RunDirectory, name: String, _ body: (URL) throws -> T) throws -> T {
        let fm = FileManager.default
        let final = url(run, name), parent = final.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(name).partial-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        let value: T
        do {
            value = try body(staging)
            // Gnuplot scripts name the CSV files they plot: point them at the final folder.
            for file in try fm.contentsOfDirectory(atPath: staging.path) where file.hasSuffix(".gp") {
                let gp = staging.appendingPathComponent(file)
                let text = try String(contentsOf: gp, encoding: .utf8).replacingOccurrences(of: staging.path, with: final.path)
                try AtomicFile.write(text, to: gp)
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        let old = parent.appendingPathComponent(".\(name).old-\(UUID().uuidString)")
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: staging, to: final)
        try? fm.removeItem(at: old)
        return value
    }
}
