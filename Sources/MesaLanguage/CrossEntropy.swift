import Foundation
import MesaTensor

// Softmax cross-entropy over a vocabulary, fused and numerically stable (SPEC §7):
//   ℓ_i = log Σ_j exp(z_ij − m_i) + m_i − z_{i,y_i},   m_i = max_j z_ij,
//   L = Σ_i w_i ℓ_i / Σ_i w_i                         (w_i = 1 without a mask),
//   ∂L/∂z_ij = w_i (softmax(z_i)_j − [j = y_i]) / Σ w.
// One pass per row keeps the row's softmax for the backward; rows run in parallel and the
// row losses are summed in order afterwards, so the result does not depend on the threads.

/// Per-row losses ℓ_i (nats) of logits [..., V] against target ids, and the row softmaxes.
func crossEntropyRows<S: TensorScalar>(_ logits: Tensor, targets: [Int32], _: S.Type) -> (losses: [Double], softmax: Tensor) {
    let (rows, vocabulary) = logits.matrixShape
    precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of logits")
    precondition(targets.allSatisfy { $0 >= 0 && Int($0) < vocabulary }, "crossEntropy: a target lies outside [0, \(vocabulary))")
    var losses = [Double](repeating: 0, count: rows)
    let softmax = Tensor(shape: logits.shape, of: S.self) { p in
        logits.withUnsafeBufferPointer(as: S.self) { z in
            losses.withUnsafeMutableBufferPointer { lp in
                let (zb, pb, lb) = (z.baseAddress!, p.baseAddress!, lp.baseAddress!)
                Parallel.forChunks(rows, grain: 64) { range in
                    for i in range {
                        let zr = zb + i * vocabulary, pr = pb + i * vocabulary
                        var m = -S.infinity
                        for j in 0..<vocabulary where zr[j] > m { m = zr[j] }
                        var sum: S = 0
                        for j in 0..<vocabulary {
                            let e = tensorExp(zr[j] - m)
                            pr[j] = e
                            sum += e
                        }
                        let inv = 1 / sum
                        for j in 0..<vocabulary { pr[j] *= inv }
                        lb[i] = Foundation.log(Double(sum)) + Double(m) - Double(zr[Int(targets[i])])
                    }
                }
            }
        }
    }
    return (losses, softmax)
}

/// The mean (or `weights`-weighted mean) next-token cross-entropy in nats of logits [B, T, V]
/// against `targets` (B·T ids), differentiable in the logits.
public func softmaxCrossEntropy(_ logits: Variable, targets: [Int32], weights: [Double]? = nil) -> Variable {
    let (rows, vocabulary) = logits.value.matrixShape
    let w = weights ?? [Double](repeating: 1, count: rows)
    precondition(w.count == rows, "crossEntropy: \(w.count) weights for \(rows) rows")
    let total = w.reduce(0, +)
    precondition(total > 0, "crossEntropy: the weights sum to zero")
    let (losses, softmax) = logits.dtype == .float32
        ? crossEntropyRows(logits.value, targets: targets, Float.self)
        : crossEntropyRows(logits.value, targets: targets, Double.self)
    var value = 0.0
    for i in 0..<rows { value += w[i] * losses[i] }
    return Variable(Tensor.scalar(value / total, dtype: logits.dtype), inputs: [logits]) { g in
        let scale = g.item / total
        func backward<S: TensorScalar>(_: S.Type) -> Tensor {
            var d = softmax
            d.withUnsafeMutableBufferPointer(as: S.self) { p in
                let pb = p.baseAddress!
                Parallel.forChunks(rows, grain: 64) { range in
                    for i in range {
                        let r = pb + i * vocabulary, s = S(scale * w[i])
                        r[Int(targets[i])] -= 1
                        for j in 0..<vocabulary { r[j] *= s }
                    }
                }
            }
            return d
        }
        return [logits.dtype == .float32 ? backward(Float.self) : backward(Double.self)]
    }
}

/// Per-row cross-entropy (nats) of logits [..., V], without gradients.
public func crossEntropyPerRow(_ logits: Tensor, targets: [Int32]) -> [Double] {
    logits.dtype == .float32 ? crossEntropyRows(logits, targets: targets, Float.self).losses
        : crossEntropyRows(logits, targets: targets, Double.self).losses
}

/// The reference, written like the math in Double: −log(exp(z_y) / Σ_j exp(z_j)) per row.
public func naiveCrossEntropy(_ logits: [[Double]], targets: [Int]) -> [Double] {
    zip(logits, targets).map { z, y in
        let normalizer = z.map { Foundation.exp($0) }.reduce(0, +)
        return -Foundation.log(Foundation.exp(z[y]) / normalizer)
    }
}
