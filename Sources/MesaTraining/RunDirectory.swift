import Foundation
import MesaTensor

/// A run's directory: `config.json` (the full configuration), `metrics.csv` (one row per
/// update: step, lr, train_loss, grad_norm, eval_loss — eval_loss blank when not
/// evaluated) and `checkpoint.safetensors` (parameters, AdamW moments, step; replaced
/// atomically). Everything a user needs to trace, resume or analyse the run.
public struct RunDirectory {
    public let url: URL
    public var configURL: URL { url.appendingPathComponent("config.json") }
    public var metricsURL: URL { url.appendingPathComponent("metrics.csv") }
    public var checkpointURL: URL { url.appendingPathComponent("checkpoint.safetensors") }

    public static let metricsHeader = "step,lr,train_loss,grad_norm,eval_loss"

    public init(_ url: URL) { self.url = url }

    public var exists: Bool { FileManager.default.fileExists(atPath: configURL.path) }
    public var hasCheckpoint: Bool { FileManager.default.fileExists(atPath: checkpointURL.path) }

    public func readConfig() throws -> TrainConfig {
        guard exists else { throw TrainingError.noRun("\(url.path) holds no run: it has no config.json") }
        do {
            return try ConfigJSON.decodeStrictly(TrainConfig.self, from: Data(contentsOf: configURL))
        } catch let error as ConfigError {
            throw MesaIOError.corrupt(configURL.path, "\(error)")
        } catch {
            throw MesaIOError.corrupt(configURL.path, "\(error)")
        }
    }

    public func writeConfig(_ config: TrainConfig) throws {
        try AtomicFile.writeJSON(config, to: configURL)
    }

    public func readCheckpoint() throws -> Safetensors.File {
        try Safetensors.read(checkpointURL)
    }

    /// Keeps the rows of metrics.csv with step ≤ `step` (what a resumed run keeps); a negative
    /// `step` keeps only the header (a run resumed before any checkpoint writes its step-0 row again).
    public func truncateMetrics(after step: Int) throws {
        var lines = [Self.metricsHeader]
        if let text = try? String(contentsOf: metricsURL, encoding: .utf8) {
            for line in text.split(separator: "\n").dropFirst() {
                if let s = Int(line.prefix { $0 != "," }), s <= step { lines.append(String(line)) }
            }
        }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: metricsURL)
    }

    /// The metrics rows as (step, column → value), blanks left out.
    public func readMetrics() throws -> [(step: Int, values: [String: Double])] {
        let text = try String(contentsOf: metricsURL, encoding: .utf8)
        let rows = text.split(separator: "\n")
        guard let header = rows.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init) else { return [] }
        return rows.dropFirst().compactMap { row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false)
            guard let s = Int(cells.first ?? "") else { return nil }
            var values: [String: Double] = [:]
            for (h, c) in zip(header, cells) { if let v = Double(c) { values[h] = v } }
            return (s, values)
        }
    }
}

/// Appends rows to metrics.csv as training goes.
final class MetricsWriter {
    private let handle: FileHandle

    init(_ url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            try AtomicFile.write(RunDirectory.metricsHeader + "\n", to: url)
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    func append(step: Int, lr: Double?, loss: Double?, gradNorm: Double?, evalLoss: Double?) throws {
        func f(_ v: Double?) -> String { v.map { String($0) } ?? "" }
        try handle.write(contentsOf: Data("\(step),\(f(lr)),\(f(loss)),\(f(gradNorm)),\(f(evalLoss))\n".utf8))
    }

    func flush() throws { try handle.synchronize() }

    deinit { try? handle.close() }
}
