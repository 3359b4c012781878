import Foundation
import MesaAnalysis
import MesaTensor
import MesaTraining

/// `mesa lm eval` (SPEC §7): a trained language model's next-byte loss on validation windows
/// of the context length: mean in nats, bits per byte (nats / ln 2), perplexity per byte
/// (e^nats), the loss at every position, and the ICL score of Olsson et al. (2022): the loss
/// at an early position minus the loss at a late one, with their positions 50 and 500 of a
/// 512-token context scaled to this context (positive: later bytes are predicted better
/// thanks to the context). Each of the two losses is the mean over 5 positions around it.
public struct LMEvaluation: Codable, Equatable {
    public var step: Int
    public var windows: Int
    public var length: Int
    public var meanLoss: Double
    public var bitsPerByte: Double
    public var perplexity: Double
    /// 1-based positions of the ICL score.
    public var earlyPosition: Int, latePosition: Int
    public var earlyLoss: Double, lateLoss: Double
    public var iclScore: Double
    /// Mean loss (nats) at positions 1…T.
    public var perPosition: [Double]

    /// Olsson et al.'s positions 50 and 500 of 512, scaled to a context of `length`.
    public static func iclPositions(length: Int) -> (early: Int, late: Int) {
        let early = max(3, Int((50.0 * Double(length) / 512).rounded()))
        let late = min(length - 2, Int((500.0 * Double(length) / 512).rounded()))
        return (early, max(late, early))
    }

    /// The mean of `perPosition` over the 5 positions centred on 1-based `position` (fewer at the ends).
    static func around(_ perPosition: [Double], _ position: Int) -> Double {
        let range = max(0, position - 3)...min(perPosition.count - 1, position + 1)
        return range.map { perPosition[$0] }.reduce(0, +) / Double(range.count)
    }

    public init(step: Int, windows: Int, perPosition: [Double]) {
        self.step = step
        self.windows = windows
        length = perPosition.count
        self.perPosition = perPosition
        meanLoss = perPosition.reduce(0, +) / Double(max(perPosition.count, 1))
        (earlyPosition, latePosition) = Self.iclPositions(length: perPosition.count)
        earlyLoss = Self.around(perPosition, earlyPosition)
        lateLoss = Self.around(perPosition, latePosition)
        bitsPerByte = meanLoss / Foundation.log(2)
        perplexity = Foundation.exp(meanLoss)
        iclScore = earlyLoss - lateLoss
    }

    /// Evaluates a model on `windows` windows spread evenly over the validation text of
    /// `corpus`, `batch` windows per forward.
    public static func evaluate(_ model: LanguageModel, corpus: Corpus, length: Int, windows: Int = 256, batch: Int = 16,
                                step: Int = 0, progress: ProgressLine? = nil) throws -> LMEvaluation {
        guard windows > 0 else { throw SamplingError("--windows must be positive, got \(windows)") }
        try corpus.check(length: length)
        let starts = TextBatches.evenStarts(count: windows, textLength: corpus.validation.count, length: length)
        var sums = [Double](repeating: 0, count: length)
        var done = 0
        for chunk in stride(from: 0, to: starts.count, by: batch) {
            let part = Array(starts[chunk..<min(chunk + batch, starts.count)])
            let b = TextBatches.batch(corpus.validation, starts: part, length: length)
            let losses = Variable.withoutGradients {
                crossEntropyPerRow(model.logits(TextBatches.ids(b.inputs), batch: part.count, length: length).value,
                                   targets: TextBatches.ids(b.targets))
            }
            for (i, l) in losses.enumerated() { sums[i % length] += l }
            done += part.count
            progress?.update(step: done, [:], force: done == starts.count)
        }
        return LMEvaluation(step: step, windows: starts.count, perPosition: sums.map { $0 / Double(starts.count) })
    }

    /// RUN/eval/: lm_summary.json, per_position_loss.csv (position, nats, bits) and its figure.
    public func write(to folder: URL, title: String) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(self, to: folder.appendingPathComponent("lm_summary.json"))
        let csv = folder.appendingPathComponent("per_position_loss.csv")
        try CSV.write(header: ["position", "loss_nats", "bits_per_byte"],
                      rows: perPosition.enumerated().map { [Double($0.offset + 1), $0.element, $0.element / Foundation.log(2)] },
                      to: csv)
        try? Figures.lines(csv: csv, series: [(column: 2, title: "bits per byte")], title: title,
                           xlabel: "position in the context", ylabel: "next-byte loss (bits)",
                           to: folder.appendingPathComponent("per_position_loss"))
    }

    /// A few lines for the terminal.
    public var summary: String {
        String(format: "validation loss %.4f nats = %.4f bits per byte, perplexity %.3f (%d windows of %d bytes, step %d)\n",
               meanLoss, bitsPerByte, perplexity, windows, length, step)
            + String(format: "ICL score %.4f nats: loss %.4f around position %d − %.4f around position %d",
                     iclScore, earlyLoss, earlyPosition, lateLoss, latePosition)
    }
}
