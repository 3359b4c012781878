// Differentiable operations on `Variable`s. Each one is the forward kernel plus a pullback
// built from kernels; every pullback is checked against central finite differences in
// Double (Tests/MesaTensorTests/GradientTests.swift).

public func + (a: Variable, b: Variable) -> Variable {
    Variable(a.value + b.value, inputs: [a, b]) { g in [g, g] }
}

public func - (a: Variable, b: Variable) -> Variable {
    Variable(a.value - b.value, inputs: [a, b]) { g in [g, -g] }
}

/// Element-wise product.
public func * (a: Variable, b: Variable) -> Variable {
    Variable(a.value * b.value, inputs: [a, b]) { g in
        [a.requiresGrad ? g * b.value : nil, b.requiresGrad ? g * a.value : nil]
    }
}

public func * (s: Double, x: Variable) -> Variable {
    Variable(s * x.value, inputs: [x]) { g in [s * g] }
}

/// y = x wᵀ with x [..., in], w [out, in].
public func linear(_ x: Variable, _ w: Variable) -> Variable {
    Variable(linear(x.value, w.value), inputs: [x, w]) { g in
        [x.requiresGrad ? linearBackwardInput(g, w.value) : nil,
         w.requiresGrad ? linearBackwardWeight(g, x.value) : nil]
    }
}

/// C = A B (2-D or batched 3-D).
public func matmul(_ a: Variable, _ b: Variable) -> Variable {
    Variable(matmul(a.value, b.value), inputs: [a, b]) { g in
        [a.requiresGrad ? matmul(g, b.value, transposeB: true) : nil,
         b.requiresGrad ? matmul(a.value, g, transposeA: true) : nil]
    }
}

/// Activation clipping to [−c, c] (SPEC §2).
public func clip(_ x: Variable, _ c: Double) -> Variable {
    Variable(clip(x.value, c), inputs: [x]) { g in [clipBackward(g, x.value, c)] }
}

/// clip(a + b) to [−c, c]: a residual add and the activation clip as one operation (one pass over
/// memory instead of two, and the sum is not kept). The backward reads the clipped output y: |y| < c
/// exactly when |a + b| < c (y = ±c otherwise, and a NaN stays NaN), so clipBackward(g, y) is
/// clipBackward(g, a + b) bit for bit.
public func addClipped(_ a: Variable, _ b: Variable, _ c: Double) -> Variable {
    let y = addClipped(a.value, b.value, c)
    return Variable(y, inputs: [a, b]) { g in
        let d = clipBackward(g, y, c)
        return [d, d]
    }
}

public func gelu(_ x: Variable) -> Variable {
    Variable(gelu(x.value), inputs: [x]) { g in [geluBackward(g, x.value)] }
}

public func columns(_ x: Variable, _ range: Range<Int>) -> Variable {
    let width = x.shape.last ?? 1
    return Variable(columns(x.value, range), inputs: [x]) { g in [placeColumns(g, width: width, at: range)] }
}

public func concatColumns(_ parts: [Variable]) -> Variable {
    let widths = parts.map { $0.shape.last ?? 1 }
    return Variable(concatColumns(parts.map(\.value)), inputs: parts) { g in
        var offset = 0
        return widths.enumerated().map { i, w in
            defer { offset += w }
            return parts[i].requiresGrad ? columns(g, offset..<(offset + w)) : nil
        }
    }
}

public func reshaped(_ x: Variable, _ shape: [Int]) -> Variable {
    let original = x.shape
    return Variable(x.value.reshaped(shape), inputs: [x]) { g in [g.reshaped(original)] }
}

/// Σ x ⊙ r for a constant r: projects any output onto a scalar (gradient checks, probes).
public func dot(_ x: Variable, _ r: Tensor) -> Variable {
    let value = (x.value * r).sum()
    return Variable(Tensor.scalar(value, dtype: x.dtype), inputs: [x]) { g in [g.item * r] }
}

public func sum(_ x: Variable) -> Variable {
    Variable(Tensor.scalar(x.value.sum(), dtype: x.dtype), inputs: [x]) { g in
        [Tensor(shape: x.shape, repeating: g.item, dtype: x.dtype)]
    }
}

/// The loss of SPEC §Notation: ½ Σ_dims (pred − target)², averaged over every other
/// index (batch and positions). With `weights` [B, T], position (b, t) counts with weight
/// w[b, t] and the sum is divided by Σ w (e.g. to score only the query positions).
public func halfSquaredError(_ pred: Variable, _ target: Tensor, weights: Tensor? = nil) -> Variable {
    halfSquaredErrorPiece(pred, target, firstRow: 0, batchRows: pred.value.matrixShape.rows, batchWeights: weights)
}

/// The part of `halfSquaredError(pred, target, weights:)` that rows `first ..< first + pred rows`
/// of a batch of `batchRows` positions contribute, for a batch split into pieces whose
/// backward passes run separately (the micro-batches of a training step). Its pullback gives
/// these rows the bits the whole batch's pullback gives them: (g / n)·diff, or g·diff·w/Σw with
/// `batchWeights` the whole batch's [B, T] mask. Its value is the piece's share of the loss;
/// the batch's loss with the whole batch's bits is `HalfSquaredErrorAccumulator`'s.
public func halfSquaredErrorPiece(_ pred: Variable, _ target: Tensor, firstRow first: Int, batchRows: Int,
                                  batchWeights: Tensor? = nil) -> Variable {
    precondition(pred.shape == target.shape, "loss: prediction \(pred.shape) vs target \(target.shape)")
    let diff = pred.value - target.converted(to: pred.dtype)
    let (rows, cols) = diff.matrixShape
    precondition(first >= 0 && first + rows <= batchRows, "loss: rows \(first)..<\(first + rows) of a batch of \(batchRows)")
    if let w = batchWeights {
        precondition(w.count == batchRows, "loss weights \(w.shape) for \(batchRows) positions")
        let wd = w.doubles
        let total = wd.reduce(0, +)
        precondition(total > 0, "loss weights sum to zero")
        let weightsByElement = Tensor(shape: diff.shape,
                                      (0..<(rows * cols)).map { wd[first + $0 / cols] / total }, dtype: diff.dtype)
        let value = 0.5 * (diff * diff * weightsByElement).sum()
        return Variable(Tensor.scalar(value, dtype: pred.dtype), inputs: [pred]) { g in
            [g.item * (diff * weightsByElement)]
        }
    }
    let n = Double(max(batchRows, 1))
    let value = 0.5 * diff.sumOfSquares() / n
    return Variable(Tensor.scalar(value, dtype: pred.dtype), inputs: [pred]) { g in [(g.item / n) * diff] }
}

/// x [..., C] + b [C] (a dense layer's bias).
public func addBias(_ x: Variable, _ b: Variable) -> Variable {
    Variable(addBias(x.value, b.value), inputs: [x, b]) { g in [g, b.requiresGrad ? sumRows(g) : nil] }
}
