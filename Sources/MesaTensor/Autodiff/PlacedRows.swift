/// Where one row of a learned matrix goes in a sequence tensor [B, T, W]: row `row` is added
/// to columns `column ..< column + n` of position `position`, in every sequence of the batch.
public struct RowPlacement: Equatable, Sendable {
    public var position: Int
    public var row: Int
    public var column: Int

    public init(position: Int, row: Int, column: Int) {
        self.position = position
        self.row = row
        self.column = column
    }
}

/// y = base + Σ_placements r[k] written at (t, c): learned tokens placed into a fixed input
/// (prompt tuning, SPEC §6). With base [B, T, W] (the data's tokens) and r [K, n] (the learned ones),
///
///     y[b, t, c + i] = base[b, t, c + i] + Σ_{(t, k, c) ∈ placements} r[k, i]
///     dL/dbase       = dL/dy
///     dL/dr[k, i]    = Σ_b Σ_{(t, k, c) ∈ placements} dL/dy[b, t, c + i]
///
/// A row may be placed at many positions (the EOS token after every pair) and at several
/// columns of one position (a constructed token holds s_t twice).
public func addingRows(_ base: Variable, _ rows: Variable, at placements: [RowPlacement]) -> Variable {
    precondition(base.shape.count == 3 && rows.shape.count == 2, "addingRows: base [B, T, W] and rows [K, n], got \(base.shape), \(rows.shape)")
    let (bSize, tLen, width) = (base.shape[0], base.shape[1], base.shape[2])
    let (k, n) = (rows.shape[0], rows.shape[1])
    for p in placements {
        precondition(p.position >= 0 && p.position < tLen && p.row >= 0 && p.row < k && p.column >= 0 && p.column + n <= width,
                     "addingRows: placement \(p) outside base \(base.shape) or rows \(rows.shape)")
    }
    precondition(base.dtype == rows.dtype, "addingRows: base \(base.dtype), rows \(rows.dtype)")
    // In the tensors' own scalar type: the base is the whole input batch, the rows a handful.
    func forward<S: TensorScalar>(_: S.Type) -> Tensor {
        var y = base.value
        y.withUnsafeMutableBufferPointer(as: S.self) { yp in
            rows.value.withUnsafeBufferPointer(as: S.self) { r in
                for b in 0..<bSize {
                    for p in placements {
                        let at = (b * tLen + p.position) * width + p.column
                        for i in 0..<n { yp[at + i] += r[p.row * n + i] }
                    }
                }
            }
        }
        return y
    }
    func backward<S: TensorScalar>(_ g: Tensor, _: S.Type) -> Tensor {
        Tensor(shape: [k, n], of: S.self) { dr in
            for i in 0..<dr.count { dr[i] = 0 }
            g.withUnsafeBufferPointer(as: S.self) { gp in
                for b in 0..<bSize {
                    for p in placements {
                        let at = (b * tLen + p.position) * width + p.column
                        for i in 0..<n { dr[p.row * n + i] += gp[at + i] }
                    }
                }
            }
        }
    }
    let y = base.dtype == .float32 ? forward(Float.self) : forward(Double.self)
    return Variable(y, inputs: [base, rows]) { g in
        [g, rows.requiresGrad ? (base.dtype == .float32 ? backward(g, Float.self) : backward(g, Double.self)) : nil]
    }
}
