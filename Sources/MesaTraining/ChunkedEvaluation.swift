import Foundation
import MesaNN
import MesaTasks
import MesaTensor

// Held-out evaluation a few sequences at a time (issue 14, time to the first step).
//
// The held-out batch (1024 sequences by default) used to run through the model in one piece:
// every activation of every layer a fresh [1024, T, ·] buffer, most of them above glibc's
// 32 MiB mmap threshold, so each was mapped, faulted in page by page, zeroed and unmapped
// again — a fifth to two fifths of a 1-step run's CPU time went to page faults. Evaluated
// `chunk` sequences at a time, every chunk's activations are the size of the previous
// chunk's, so the allocator hands the same (already faulted-in) memory back for each chunk
// and the peak is one chunk's forward. The loss stays the same bits: the model treats every
// sequence on its own, and `HalfSquaredErrorAccumulator` sums the squared errors in the
// order the whole batch's loss sums them (tested for several chunk sizes).

extension SequenceBatch {
    /// Sequences `range` of this batch (inputs, targets and loss mask), copied.
    public func sequences(_ range: Range<Int>) -> SequenceBatch {
        precondition(range.lowerBound >= 0 && range.upperBound <= batchSize,
                     "sequences \(range) of a batch of \(batchSize)")
        return SequenceBatch(inputs: inputs.leading(range), targets: targets.leading(range),
                             lossMask: lossMask.map { $0.leading(range) })
    }
}

extension NextStatePrediction {
    /// `loss(on: batch).value.item` without gradients, the model run on `chunk` sequences at a
    /// time: the same bits (see above), one chunk's activations in memory per worker instead of
    /// the batch's. With several workers the chunks' forwards run side by side, one per worker
    /// and each on one thread (`Parallel.serially`), instead of one after another with every
    /// kernel split over the workers: the chunks are independent, so the serial stretches of one
    /// forward (allocation, whole-tensor operations on the calling thread, the waits at the end of
    /// every split kernel) overlap with another chunk's work. A kernel computes the same bits on
    /// any number of threads, and the squared errors are summed in chunk order afterwards.
    public func heldOutLoss(on batch: SequenceBatch, chunk: Int) -> Double {
        let b = batch.batchSize
        let step = max(1, chunk)
        if step >= b { return Variable.withoutGradients { loss(on: batch).value.item } }
        let ranges = stride(from: 0, to: b, by: step).map { $0..<min($0 + step, b) }
        let predictions = chunkPredictions(batch, ranges, lanes: min(Parallel.workers, ranges.count))
        var sum = HalfSquaredErrorAccumulator(rows: batch.targets.matrixShape.rows, dtype: predictions[0].dtype,
                                              weights: batch.lossMask)
        for (range, prediction) in zip(ranges, predictions) { sum.add(prediction, batch.targets.leading(range)) }
        return sum.value
    }

    /// The model's predictions for `ranges` of the batch, without gradients: in order on this
    /// thread (`lanes` 1), or taken one at a time by `lanes` threads that each run a whole
    /// forward on one worker.
    func chunkPredictions(_ batch: SequenceBatch, _ ranges: [Range<Int>], lanes: Int) -> [Tensor] {
        func predict(_ range: Range<Int>) -> Tensor {
            Variable.withoutGradients { model(tokens.tokens(from: batch.inputs.leading(range))).value }
        }
        let results = ranges.map { _ in ChunkPrediction() }
        Parallel.inLanes(ranges.count, lanes: lanes) { results[$0].tensor = predict(ranges[$0]) }
        return results.map { $0.tensor! }
    }
}

/// One chunk's prediction, written by the lane that ran it.
private final class ChunkPrediction: @unchecked Sendable {
    var tensor: Tensor?
}
