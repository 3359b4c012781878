import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// `mesa analyze attention RUN` (SPEC §5.5): attention maps of chosen layers averaged over
/// `sequences` test sequences, with the mean weight each puts on the current and the previous
/// token. Writes RUN/analysis/attention/: per head CSV matrices, one heat-map figure per layer,
/// focus.csv and summary.md.
public struct AttentionAnalysis {
    public struct Focus: Codable, Equatable {
        /// 1-based.
        public var layer: Int
        /// Mean over heads and positions t ≥ 3 of the weight on key t, and on key t − 1.
        public var onCurrent: Double, onPrevious: Double
    }

    public let trained: LoadedRun
    /// 0-based layers.
    public let layers: [Int]
    public let sequences: Int

    /// `layers`: 1-based (nil: every softmax layer). A layer without attention weights is refused.
    public init(_ trained: LoadedRun, layers: [Int]? = nil, sequences: Int = AttentionMaps.heldOutSequences) throws {
        let model = trained.model
        let chosen = try layers.map { try AnalysisError.layerIndices($0, count: model.blocks.count) }
            ?? model.blocks.indices.filter { model.blocks[$0].attention.kind == .softmax }
        guard !chosen.isEmpty else { throw AnalysisError.badOption("the model has no softmax layers; name layers with --layers") }
        for l in chosen where !model.traceableNames.contains("layers.\(l).weights") {
            throw AnalysisError.notAttentionWeights(layer: l + 1, kind: "\(model.blocks[l].attention.kind)")
        }
        guard sequences >= 1 else { throw AnalysisError.badOption("--sequences must be at least 1") }
        self.trained = trained
        self.layers = chosen
        self.sequences = sequences
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "attention") }

    @discardableResult
    public func run() throws -> [Focus] {
        let c = trained.config
        let maps = try AttentionMaps(model: trained.model, tokens: AttentionMaps.heldOutTokens(c, sequences: sequences), layers: layers)
        let focus = layers.map { Focus(layer: $0 + 1, onCurrent: maps.meanWeight(layer: $0, lag: 0),
                                       onPrevious: maps.meanWeight(layer: $0, lag: 1)) }
        try AnalysisFolder.write(trained.directory, name: "attention") { out in
            for l in layers {
                _ = try maps.write(layer: l, title: "\(c.preset), layer \(l + 1): attention averaged over \(sequences) test sequences", into: out)
            }
            try CSV.write(header: ["layer", "on_current", "on_previous"],
                          rows: focus.map { [Double($0.layer), $0.onCurrent, $0.onPrevious] }, to: out.appendingPathComponent("focus.csv"))
            try AtomicFile.write("""
            # Attention maps: \(c.preset), step \(trained.step)

            Averaged over \(sequences) test sequences of length \(c.length) (SPEC §5.5). Mean weight over heads and
            positions t ≥ 3 on the current token and on the previous one:

            | layer | on t | on t−1 |
            |---|---|---|
            \(focus.map { String(format: "| %d | %.3f | %.3f |", $0.layer, $0.onCurrent, $0.onPrevious) }.joined(separator: "\n"))

            \(layers.map { "![layer \($0 + 1)](layer\($0)_attention.png)" }.joined(separator: "\n"))

            """, to: out.appendingPathComponent("summary.md"))
        }
        return focus
    }
}
