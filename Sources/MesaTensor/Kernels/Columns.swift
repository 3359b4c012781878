// Column (last-axis) slicing and concatenation: reading the prediction from the first n
// coordinates of the residual stream, and appending the positional encoding to the
// query/key input (SPEC §1, §2).

/// Runs `body` on row ranges of 0..<rows: in one call for small tensors, else split across the
/// workers (row copies, so the bytes do not depend on the split; on the calling thread alone the
/// read-out's slice and its adjoint were ~1% of a linear-1 step each).
@inline(__always)
func forRowChunks(_ rows: Int, _ body: (Range<Int>) -> Void) {
    if rows < 2048 || Parallel.workers == 1 { body(0..<rows) } else { Parallel.forChunks(rows, grain: 1024, body) }
}

/// x[..., range] for x [..., D].
public func columns(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    let (rows, width) = x.matrixShape
    precondition(range.lowerBound >= 0 && range.upperBound <= width,
                 "columns \(range) out of bounds for width \(width)")
    let w = range.count
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: Array(x.shape.dropLast()) + [w], of: S.self) { out in
            x.withUnsafeBufferPointer(as: S.self) { xp in
                let o = out.baseAddress!, xb = xp.baseAddress! + range.lowerBound
                forRowChunks(rows) { chunk in
                    for r in chunk { (o + r * w).update(from: xb + r * width, count: w) }
                }
            }
        }
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// The adjoint of `columns`: g [..., r.count] placed at columns `range` of a zero
/// tensor [..., width].
public func placeColumns(_ g: Tensor, width: Int, at range: Range<Int>) -> Tensor {
    let (rows, w) = g.matrixShape
    precondition(w == range.count && range.upperBound <= width, "placeColumns: \(g.shape) at \(range) in \(width)")
    var out = Tensor(uninitializedShape: Array(g.shape.dropLast()) + [width], dtype: g.dtype)
    func run<S: TensorScalar>(_: S.Type) {
        g.withUnsafeBufferPointer(as: S.self) { gp in
            out.withUnsafeMutableBufferPointer(as: S.self) { op in
                let (o, gb, left, right) = (op.baseAddress!, gp.baseAddress!, range.lowerBound, width - range.upperBound)
                forRowChunks(rows) { chunk in
                    for r in chunk {
                        let row = o + r * width
                        row.update(repeating: 0, count: left)
                        (row + left).update(from: gb + r * w, count: w)
                        (row + range.upperBound).update(repeating: 0, count: right)
                    }
                }
            }
        }
    }
    g.dtype == .float32 ? run(Float.self) : run(Double.self)
    return out
}

/// Concatenation along the last axis; all parts share the leading dimensions.
public func concatColumns(_ parts: [Tensor]) -> Tensor {
    precondition(!parts.isEmpty, "concatColumns of nothing")
    let lead = Array(parts[0].shape.dropLast())
    let rows = parts[0].matrixShape.rows
    for p in parts {
        precondition(Array(p.shape.dropLast()) == lead && p.dtype == parts[0].dtype,
                     "concatColumns: \(p.shape) does not fit \(parts[0].shape)")
    }
    let widths = parts.map { $0.matrixShape.cols }
    let total = widths.reduce(0, +)
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: lead + [total], of: S.self) { out in
            var offset = 0
            for (p, w) in zip(parts, widths) {
                p.withUnsafeBufferPointer(as: S.self) { pp in
                    for r in 0..<rows {
                        for c in 0..<w { out[r * total + offset + c] = pp[r * w + c] }
                    }
                }
                offset += w
            }
        }
    }
    return parts[0].dtype == .float32 ? run(Float.self) : run(Double.self)
}

extension Tensor {
    /// x[range] along the first axis (sequences `range` of a [B, T, ·] batch), copied.
    public func leading(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "leading \(range) out of bounds for shape \(shape)")
        let per = shape.dropFirst().reduce(1, *)
        func run<S: TensorScalar>(_: S.Type) -> Tensor {
            Tensor(shape: [range.count] + shape.dropFirst(), of: S.self) { out in
                withUnsafeBufferPointer(as: S.self) { src in
                    _ = out.initialize(from: src[(range.lowerBound * per)..<(range.upperBound * per)])
                }
            }
        }
        return dtype == .float32 ? run(Float.self) : run(Double.self)
    }
}
