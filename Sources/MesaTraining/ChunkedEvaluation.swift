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
    /// time: the same bits (see above), one chunk's activations in memory instead of the batch's.
    public func heldOutLoss(on batch: SequenceBatch, chunk: Int) -> Double {
        let b = batch.batchSize
        let step = max(1, chunk)
        if step >= b { return Variable.withoutGradients { loss(on: batch).value.item } }
        var sum: HalfSquaredErrorAccumulator?
        for start in stride(from: 0, to: b, by: step) {
            let piece = batch.sequences(start..<min(start + step, b))
            let prediction = Variable.withoutGradients { model(tokens.tokens(from: piece.inputs)).value }
            if sum == nil {
                sum = HalfSquaredErrorAccumulator(rows: batch.targets.matrixShape.rows, dtype: prediction.dtype,
                                                  weights: batch.lossMask)
            }
            sum!.add(prediction, piece.targets)
        }
        return sum!.value
    }
}
