import MesaTasks
import MesaTensor
import MesaTraining

/// Batches of byte windows from a corpus: inputs x_1…x_T and targets x_2…x_{T+1} as ids
/// in [B, T, 1] tensors. Window b of training step k starts at an offset drawn from the
/// stream (seed, trainingBatch, k, b), so a batch is a pure function of (seed, step).
/// The held-out batch is `evalBatchSize` windows spread evenly over the validation text.
public struct TextBatches: BatchSource {
    public let train: [UInt8]
    public let validation: [UInt8]
    public let seed: UInt64
    public let batchSize: Int, evalBatchSize: Int, length: Int

    public init(corpus: Corpus, config: TrainConfig) throws {
        try corpus.check(length: config.length)
        train = corpus.train
        validation = corpus.validation
        seed = config.seed
        batchSize = config.batchSize
        evalBatchSize = config.evalBatchSize
        length = config.length
    }

    public func trainingBatch(step: Int) -> SequenceBatch {
        let starts = (0..<batchSize).map { b in
            var stream = RandomStream(seed: seed, purpose: .trainingBatch, step: step, index: b)
            return stream.integer(below: train.count - length)
        }
        return Self.batch(train, starts: starts, length: length)
    }

    public func testBatch() -> SequenceBatch {
        Self.batch(validation, starts: Self.evenStarts(count: evalBatchSize, textLength: validation.count, length: length),
                   length: length)
    }

    /// `count` window starts spread evenly over a text (windows of T + 1 bytes).
    public static func evenStarts(count: Int, textLength: Int, length: Int) -> [Int] {
        let last = textLength - length - 1
        return (0..<count).map { count == 1 ? 0 : $0 * last / (count - 1) }
    }

    /// Windows text[s ..< s + T + 1] as inputs and targets [B, T, 1].
    public static func batch(_ text: [UInt8], starts: [Int], length t: Int) -> SequenceBatch {
        var inputs = [Float](), targets = [Float]()
        inputs.reserveCapacity(starts.count * t)
        targets.reserveCapacity(starts.count * t)
        for s in starts {
            for i in 0..<t {
                inputs.append(Float(text[s + i]))
                targets.append(Float(text[s + i + 1]))
            }
        }
        return SequenceBatch(inputs: Tensor(shape: [starts.count, t, 1], inputs),
                             targets: Tensor(shape: [starts.count, t, 1], targets))
    }

    /// The byte ids of a [B, T, 1] tensor of a batch.
    public static func ids(_ t: Tensor) -> [Int32] { t.scalars(as: Float.self).map { Int32($0) } }
}
