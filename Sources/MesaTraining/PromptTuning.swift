import MesaNN
import MesaTasks
import MesaTensor

/// Prompt tuning (SPEC §6): a trained model, frozen, reads few-shot regression sequences laid
/// out with learned tokens (`PromptLayout`: a prefix, an EOS after every pair); only those
/// tokens are trained, on ½‖ŷ_i − y_i‖² at the x_i (the loss mask). The model's parameters are
/// frozen leaves: no gradient is accumulated for them and the optimizer holds no state for them
/// (`parameters` lists the learned tokens alone), and checkpoints hold only the tokens.
public final class PromptTuning: TrainingObjective {
    public let model: Transformer
    public let tokens: TokenConstruction
    public let layout: PromptLayout
    /// [prefix, n]: "prompt.prefix"; nil without a prefix.
    public let prefix: Variable?
    /// [1, n]: "prompt.eos"; nil without an EOS.
    public let eos: Variable?
    public let parameters: [NamedParameter]
    /// Batches drawn for training and held-out evaluation: (seed, purpose, step).
    public let seed: UInt64
    public let batchSize: Int
    public let evalBatchSize: Int

    /// Freezes every parameter of `model` and draws the learned tokens from N(0, initStd²)
    /// (seed, parameterInit, step 1): SPEC §6's N(0, I) at `initStd` 1.
    public init(model: Transformer, tokens: TokenConstruction, layout: PromptLayout, seed: UInt64, initStd: Double = 1,
                batchSize: Int = 256, evalBatchSize: Int = 1024) throws {
        try layout.validate()
        self.model = model
        self.tokens = tokens
        self.layout = layout
        self.seed = seed
        self.batchSize = batchSize
        self.evalBatchSize = evalBatchSize
        for p in model.parameters { p.variable.setRequiresGrad(false) }
        let n = model.config.dimension
        var stream = RandomStream(seed: seed, purpose: .parameterInit, step: 1)
        let all = Tensor.normal(shape: [layout.learnedRows, n], std: initStd, dtype: model.dtype, stream: &stream).doubles
        func learned(_ rows: Range<Int>) -> Variable {
            Variable(Tensor(shape: [rows.count, n], Array(all[(rows.lowerBound * n)..<(rows.upperBound * n)]), dtype: model.dtype),
                     requiresGrad: true)
        }
        prefix = layout.prefix > 0 ? learned(0..<layout.prefix) : nil
        eos = layout.eos ? learned(layout.prefix..<(layout.prefix + 1)) : nil
        var p: [NamedParameter] = []
        if let prefix { p.append(NamedParameter("prompt.prefix", prefix, decays: false)) }
        if let eos { p.append(NamedParameter("prompt.eos", eos, decays: false)) }
        parameters = p
    }

    /// The model's input for a laid-out batch: the data's tokens with the learned ones added
    /// where the layout puts them. [B, length, width]
    public func input(for batch: SequenceBatch) -> Variable {
        let n = model.config.dimension, len = layout.length
        precondition(batch.length == len && batch.dimension == n, "prompt tuning expects laid-out batches [B, \(len), \(n)], got \(batch.inputs.shape)")
        var x = Variable(tokens.tokens(from: batch.inputs.converted(to: model.dtype)))
        func place(_ rows: Variable, rowOffset: Int) {
            var placements: [RowPlacement] = []
            for r in 0..<rows.shape[0] {
                for t in layout.positions(ofRow: rowOffset + r) {
                    for a in tokens.appearances(ofStateAt: t, length: len, dimension: n) {
                        placements.append(RowPlacement(position: a.position, row: r, column: a.column))
                    }
                }
            }
            x = addingRows(x, rows, at: placements)
        }
        if let prefix { place(prefix, rowOffset: 0) }
        if let eos { place(eos, rowOffset: layout.prefix) }
        return x
    }

    public func loss(on batch: SequenceBatch) -> Variable {
        halfSquaredError(model(input(for: batch)), batch.targets, weights: batch.lossMask)
    }

    public func trainingBatch(step: Int) -> SequenceBatch? {
        layout.laidOut(layout.dataBatch(dimension: model.config.dimension, size: batchSize, seed: seed,
                                        purpose: .trainingBatch, step: step, dtype: model.dtype))
    }

    public func heldOutBatch() -> SequenceBatch? {
        layout.laidOut(layout.dataBatch(dimension: model.config.dimension, size: evalBatchSize, seed: seed,
                                        purpose: .testBatch, dtype: model.dtype))
    }

    /// ½‖ŷ_i − y_i‖² at every x_i (all teachers in order), mean over the batch's sequences: the
    /// few-shot curve of SPEC §6. Evaluated without recording gradients.
    public func errorPerPair(on batch: SequenceBatch) -> [Double] {
        let prediction = Variable.withoutGradients { model(input(for: batch)).value.doubles }
        let targets = batch.targets.doubles
        let (bSize, len, n) = (batch.batchSize, batch.length, batch.dimension)
        return layout.queryPositions.map { t in
            var total = 0.0
            for b in 0..<bSize {
                let at = (b * len + t) * n
                for j in 0..<n { let d = prediction[at + j] - targets[at + j]; total += 0.5 * d * d }
            }
            return total / Double(bSize)
        }
    }
}
