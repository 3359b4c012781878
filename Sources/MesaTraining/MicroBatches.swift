import Foundation
import MesaTasks
import MesaTensor

// A training step on micro-batches (issue 14, "twice the best peer"): the batch's sequences are
// cut into `TrainConfig.microBatches` consecutive pieces, and each piece runs its own forward and
// backward. With two or more cores the pieces run side by side, one per core and every kernel
// of a piece on that core (`Parallel.serially`), instead of one after another with each kernel
// split over the cores: a piece's forward and backward need no other piece, so the hundreds of
// waits at the end of every split kernel, and the stretches that run on one core, are gone
// (softmax-7 on two cores: 0.84 of the ideal two-core speed with split kernels; BENCHMARKS.md).
//
// What changes and what does not:
// - The loss has the bits of the whole batch's loss (`HalfSquaredErrorAccumulator` sums the
//   squared errors in the whole batch's order) wherever the model gives a sequence the same
//   bits in any batch, as mesa's Float32 kernels do (the chunked held-out evaluation relies on
//   it too); in Double, OpenBLAS chooses its kernel by the number of rows, so it agrees to
//   rounding. The gradient reaching each prediction is what the whole batch's pullback gives it
//   (`halfSquaredErrorPiece`).
// - A weight's gradient is the sum over the pieces, added in piece order: the same terms as
//   the whole batch's, summed in another order (floating-point reassociation).
// - The pieces are fixed by the configuration, not by the number of threads, so the same seed
//   and configuration give the same bytes on any number of threads. A configuration written
//   before this field existed has 1 piece: the whole batch, as it was trained.

/// An objective whose loss sums over sequences, so that a batch's gradient can be put together
/// from micro-batches.
public protocol MicroBatchObjective: TrainingObjective {
    /// `loss(on: batch).value.item` (the same bits where the model gives a sequence the same bits
    /// in any batch: Float32), and each parameter's gradient added to its `grad` as
    /// `loss(on: batch).backward()` would add it up to the order of the sums over sequences:
    /// computed on `parts` consecutive micro-batches of near-equal size (fewer when the batch has
    /// fewer sequences).
    func lossAndGradients(on batch: SequenceBatch, parts: Int) -> Double
}

extension NextStatePrediction: MicroBatchObjective {
    public func lossAndGradients(on batch: SequenceBatch, parts: Int) -> Double {
        let b = batch.batchSize
        let ranges = Parallel.split(b, parts: min(max(1, parts), b))
        let batchRows = batch.targets.matrixShape.rows, rowsPerSequence = batchRows / b
        let pieces = (0..<ranges.count).map { _ in MicroBatchResult() }
        MicroBatches.forEach(ranges.count) { i in
            let piece = batch.sequences(ranges[i])
            let prediction = model(tokens.tokens(from: piece.inputs))
            let loss = halfSquaredErrorPiece(prediction, piece.targets, firstRow: ranges[i].lowerBound * rowsPerSequence,
                                             batchRows: batchRows, batchWeights: batch.lossMask)
            loss.backward(leaves: pieces[i].gradients)
            pieces[i].prediction = prediction.value
        }
        var sum = HalfSquaredErrorAccumulator(rows: batchRows, dtype: pieces[0].prediction!.dtype, weights: batch.lossMask)
        for (range, piece) in zip(ranges, pieces) { sum.add(piece.prediction!, batch.targets.leading(range)) }
        let leaves = parameters.map(\.variable)
        for piece in pieces { piece.gradients.add(to: leaves) }
        return sum.value
    }
}

/// One micro-batch's prediction and leaf gradients (written by the thread that ran it).
final class MicroBatchResult: @unchecked Sendable {
    let gradients = LeafGradients()
    var prediction: Tensor?
}

/// How the micro-batches of a step share the cores.
enum MicroBatches {
    /// Runs `body(i)` for i in 0..<count. With fewer workers than twice `count`, up to `count`
    /// lanes take the pieces in order as they come free, each piece's kernels on its lane's
    /// thread alone; with more (a many-core node), the pieces run one after another with every
    /// kernel split over all the workers. The same bits either way.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        Parallel.inLanes(count, lanes: lanes(count, workers: Parallel.workers), body)
    }

    /// How many of `count` pieces run at once on `workers` (`forEach`; `MemoryEstimate` counts them).
    static func lanes(_ count: Int, workers: Int) -> Int {
        workers / 2 >= count ? 1 : min(workers, count)
    }
}
