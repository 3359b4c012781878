import Numerics

/// Full-batch gradient descent of ZHENG.md §Training: `W ← W − η ∇L` with the complex gradient
/// `∂L/∂Re W + i ∂L/∂Im W` (plain gradient descent on the real and imaginary parts), no momentum, no
/// weight decay; optionally the blocks are projected back onto their diagonals after every step.
public struct GradientDescent: Codable, Equatable {
    public var stepSize: Double
    public var steps: Int
    public var projectDiagonalBlocks: Bool

    public init(stepSize: Double, steps: Int, projectDiagonalBlocks: Bool = false) {
        self.stepSize = stepSize
        self.steps = steps
        self.projectDiagonalBlocks = projectDiagonalBlocks
    }

    public func validate() throws {
        guard stepSize.isFinite, stepSize > 0 else { throw TheoryError.invalid("step size must be finite and positive, got \(stepSize)") }
        guard steps >= 0 else { throw TheoryError.invalid("the number of steps must be non-negative, got \(steps)") }
    }

    /// The state after a step: the loss is that of the weights of this step, before its update.
    public struct Record: Codable, Equatable {
        public var step: Int
        public var loss: Double
        public var ab: Double
        public var offDiagonalMax: Double
        public var outsideStructureMax: Double
    }

    /// A loss this many times the larger of the first one and the zero model's counts as divergence.
    public static let divergenceFactor = 1e8

    /// Runs `steps` updates from `start`, numbering them from `firstStep` (to continue a run), and
    /// returns the final weights and one record per step plus one for the final weights.
    /// `observe` sees every record with its weights; the run ends early, at those weights, once `until`
    /// holds for the records so far. Throws `TheoryError.diverged` when the loss or gradient stops being
    /// finite or the loss exceeds `divergenceFactor` times the larger of its first value and the loss of
    /// predicting zero.
    public func run(from start: LinearCausalAttention, on objective: FullBatchObjective, firstStep: Int = 0,
                    until: ([Record]) -> Bool = { _ in false },
                    observe: (Record, LinearCausalAttention) -> Void = { _, _ in }) throws
        -> (model: LinearCausalAttention, records: [Record]) {
        try validate()
        var model = start
        if projectDiagonalBlocks { model.projectDiagonalBlocks() }
        var records: [Record] = []
        var bound: Double?
        for k in 0...steps {
            let step = firstStep + k
            let lg = objective.lossAndGradient(model)
            let limit = bound ?? Self.divergenceFactor * max(lg.loss, objective.zeroModelLoss)
            bound = limit
            guard lg.loss.isFinite, lg.maxModulus.isFinite, lg.loss <= limit else {
                throw TheoryError.diverged(step: step, loss: lg.loss, stepSize: stepSize)
            }
            let record = Record(step: step, loss: lg.loss, ab: model.ab, offDiagonalMax: model.offDiagonalMax,
                                outsideStructureMax: model.outsideStructureMax)
            records.append(record)
            observe(record, model)
            guard k < steps, !until(records) else { break }
            for i in model.keyQuery.indices { model.keyQuery[i] -= lg.keyQuery[i].multiplied(by: stepSize) }
            for i in model.projectionValue.indices { model.projectionValue[i] -= lg.projectionValue[i].multiplied(by: stepSize) }
            if projectDiagonalBlocks { model.projectDiagonalBlocks() }
        }
        return (model, records)
    }
}
