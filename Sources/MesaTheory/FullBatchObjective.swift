import Numerics
import MesaTensor

/// The training objective of ZHENG.md §Training on a fixed training set: the full-batch loss and its
/// exact complex gradient, computed by `LaneKernel` on `Lane.scalarCount` sequences at a time.
///
/// Two properties of the data make this cheap and stay exact:
/// - every token is `x_t = λ^{t−1} ⊙ x_1`, so a sequence is (λ, x_1) and its tokens are regenerated
///   by the recurrence on the fly;
/// - a diagonal W keeps the support J of x_1, so `E_tE_tᴴ` lives on the coordinates J ∪ (d+J) and only
///   those rows and columns of W^{KQ}, and those columns of W^{PV}, enter or receive gradient. Sequences are
///   grouped by support and each group runs in its own compact coordinates (2|J| instead of 2d: a
///   gradient on sparse initial tokens costs about a fifth of one on Gaussian ones at d = 5).
///
/// The gradient is summed over `Parallel.reductionParts` fixed parts of the groups, each summed in a
/// fixed order and then added part by part: the same bits whatever the number of threads.
public struct FullBatchObjective {
    public let data: ARSequenceSet
    /// L at W = 0 (predicting zero): `(1/2m) Σ_n (T−2)‖x_{n,1}‖²`, as every token has the norm of x_1.
    public let zeroModelLoss: Double
    let groups: [LaneGroup]
    let parts: [Range<Int>]

    public init(_ data: ARSequenceSet) {
        self.data = data
        let d = data.process.dimension
        zeroModelLoss = Double(data.process.length - 2) * data.initialTokens.map(\.lengthSquared).reduce(0, +) / Double(2 * data.count)
        precondition(d <= 60, "support masks hold at most 60 coordinates")
        // Stable grouping by support mask; sequences with x_1 = 0 contribute nothing and are dropped.
        var bySupport: [Int: [Int]] = [:]
        for n in 0..<data.count {
            var mask = 0
            for j in 0..<d where data.initialTokens[n * d + j] != .zero { mask |= 1 << j }
            if mask != 0 { bySupport[mask, default: []].append(n) }
        }
        var groups: [LaneGroup] = []
        for mask in bySupport.keys.sorted() {
            let support = (0..<d).filter { mask & (1 << $0) != 0 }
            let members = bySupport[mask]!
            for start in stride(from: 0, to: members.count, by: Lane.scalarCount) {
                groups.append(LaneGroup(support: support, sequences: Array(members[start..<min(start + Lane.scalarCount, members.count)]),
                                        data: data))
            }
        }
        self.groups = groups
        parts = Self.balancedParts(costs: groups.map { Double($0.support.count * $0.support.count) },
                                   count: Parallel.reductionParts)
    }

    /// Contiguous ranges of the groups with near-equal total cost (a function of the data only).
    static func balancedParts(costs: [Double], count: Int) -> [Range<Int>] {
        let total = costs.reduce(0, +)
        var bounds = [0]
        var running = 0.0
        for (i, c) in costs.enumerated() {
            running += c
            if bounds.count < count, running >= total * Double(bounds.count) / Double(count) { bounds.append(i + 1) }
        }
        while bounds.count <= count { bounds.append(costs.count) }
        bounds[count] = costs.count
        return (0..<count).map { bounds[$0]..<max(bounds[$0], bounds[$0 + 1]) }
    }

    /// L and ∇L at `model`.
    public func lossAndGradient(_ model: LinearCausalAttention) -> LossAndGradient {
        let d = data.process.dimension, T = data.process.length
        precondition(model.dimension == d, "model d = \(model.dimension), data d = \(d)")
        var partial = [LaneKernel.Sums](repeating: LaneKernel.Sums(dimension: d), count: parts.count)
        partial.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(parts.count) { p in
                let kernel = LaneKernel(model: model, length: T)
                var sums = LaneKernel.Sums(dimension: d)
                for g in parts[p] { kernel.accumulate(groups[g], into: &sums) }
                out[p] = sums
            }
        }
        var total = LaneKernel.Sums(dimension: d)
        for p in partial { total.add(p) }
        let m = Double(data.count)
        return LossAndGradient(loss: total.loss / (2 * m),
                               keyQuery: (0..<total.keyQueryRe.count).map { Complex(total.keyQueryRe[$0] / m, total.keyQueryIm[$0] / m) },
                               projectionValue: (0..<total.projectionValueRe.count).map {
                                   Complex(total.projectionValueRe[$0] / m, total.projectionValueIm[$0] / m) })
    }
}
