import MesaTensor

/// Loss at every position (SPEC §5.1): ½‖pred − target‖² averaged over the batch, per t.
/// Predictions and targets are [B, T, n] row-major arrays.
public func perPositionLoss(_ pred: [Double], _ target: [Double], batch: Int, length: Int, dimension n: Int) -> [Double] {
    precondition(pred.count == batch * length * n && target.count == pred.count,
                 "perPositionLoss: \(pred.count) predictions, \(target.count) targets for [\(batch), \(length), \(n)]")
    var loss = [Double](repeating: 0, count: length)
    for b in 0..<batch {
        for t in 0..<length {
            var s = 0.0
            for i in 0..<n {
                let d = pred[(b * length + t) * n + i] - target[(b * length + t) * n + i]
                s += d * d
            }
            loss[t] += 0.5 * s
        }
    }
    return loss.map { $0 / Double(batch) }
}

/// States of a batch as plain Double arrays: s_1…s_T (inputs) and s_2…s_{T+1} (targets).
public struct StateSequences {
    public let inputs: [Double]
    public let targets: [Double]
    public let batch: Int, length: Int, dimension: Int

    public init(inputs: Tensor, targets: Tensor) {
        precondition(inputs.shape.count == 3 && inputs.shape == targets.shape, "states must be [B, T, n]")
        self.inputs = inputs.doubles
        self.targets = targets.doubles
        batch = inputs.shape[0]
        length = inputs.shape[1]
        dimension = inputs.shape[2]
    }

    /// s_t of sequence b (t = 1…T; s_0 = 0).
    @inline(__always)
    public func state(_ b: Int, _ t: Int, _ i: Int) -> Double {
        t == 0 ? 0 : inputs[(b * length + t - 1) * dimension + i]
    }

    public func loss(of predictions: [Double]) -> [Double] {
        perPositionLoss(predictions, targets, batch: batch, length: length, dimension: dimension)
    }
}
