import MesaTensor

// L2 normalization of each head's queries and keys (an option of SPEC §2's linear and
// mesa layers): y = x / s, s = √(‖x‖² + ε), per row and head; backward dx = (dy − y (yᵀdy)) / s.

public let headNormalizationEpsilon = 1e-6

/// Normalizes `count` consecutive slices of width d starting at `x` (stride d), in place,
/// writing each slice's s to `norms`.
@inline(__always)
func normalizeSlices<S: TensorScalar>(_ x: UnsafeMutablePointer<S>, count: Int, width d: Int,
                                      norms: UnsafeMutablePointer<S>) {
    for c in 0..<count {
        let v = x + c * d
        var sq: S = 0
        for i in 0..<d { sq += v[i] * v[i] }
        let s = (sq + S(headNormalizationEpsilon)).squareRoot()
        let inv = 1 / s
        for i in 0..<d { v[i] *= inv }
        norms[c] = s
    }
}

/// In place: dy ← (dy − y (yᵀ dy)) / s for `count` slices of width d (y the normalized values).
@inline(__always)
func normalizeSlicesBackward<S: TensorScalar>(_ dy: UnsafeMutablePointer<S>, normalized y: UnsafePointer<S>,
                                              count: Int, width d: Int, norms: UnsafePointer<S>) {
    for c in 0..<count {
        let g = dy + c * d, v = y + c * d
        var dot: S = 0
        for i in 0..<d { dot += v[i] * g[i] }
        let inv = 1 / norms[c]
        for i in 0..<d { g[i] = (g[i] - v[i] * dot) * inv }
    }
}

/// Differentiable per-head L2 normalization of x [..., H·d].
public func l2NormalizeHeads(_ x: Variable, heads: Int) -> Variable {
    let (rows, width) = x.value.matrixShape
    precondition(width % heads == 0, "l2NormalizeHeads: width \(width) is not divisible by \(heads) heads")
    let d = width / heads
    func forward<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        var norms = Tensor(uninitializedShape: [rows * heads], dtype: S.dtype)
        var y = x.value
        y.withUnsafeMutableBufferPointer(as: S.self) { yp in
            norms.withUnsafeMutableBufferPointer(as: S.self) { np in
                normalizeSlices(yp.baseAddress!, count: rows * heads, width: d, norms: np.baseAddress!)
            }
        }
        return (y, norms)
    }
    let (y, norms) = x.dtype == .float32 ? forward(Float.self) : forward(Double.self)
    return Variable(y, inputs: [x]) { g in
        func backward<S: TensorScalar>(_: S.Type) -> Tensor {
            var dx = g
            dx.withUnsafeMutableBufferPointer(as: S.self) { dp in
                y.withUnsafeBufferPointer(as: S.self) { yp in
                    norms.withUnsafeBufferPointer(as: S.self) { np in
                        normalizeSlicesBackward(dp.baseAddress!, normalized: yp.baseAddress!, count: rows * heads,
                                                width: d, norms: np.baseAddress!)
                    }
                }
            }
            return dx
        }
        return [x.dtype == .float32 ? backward(Float.self) : backward(Double.self)]
    }
}
