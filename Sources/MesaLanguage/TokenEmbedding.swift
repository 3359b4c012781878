import MesaTensor

/// Token embedding (SPEC §7): row `ids[i]` of `table` [V, D] for each of the B·T ids:
/// [B, T, D]. The same as a one-hot [B, T, V] times the table without the V-wide matmul.
/// Backward: the rows of ∂L/∂out are scatter-added into ∂L/∂table, serially in id order of
/// appearance (deterministic whatever the threads).
public func embedTokens(_ table: Variable, ids: [Int32], batch: Int, length: Int) -> Variable {
    let (vocabulary, width) = (table.shape[0], table.shape[1])
    precondition(table.shape.count == 2, "embedTokens: the table must be [V, D], got \(table.shape)")
    precondition(ids.count == batch * length, "embedTokens: \(ids.count) ids for [\(batch), \(length)]")
    precondition(ids.allSatisfy { $0 >= 0 && Int($0) < vocabulary }, "embedTokens: an id lies outside [0, \(vocabulary))")
    func gather<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: [batch, length, width], of: S.self) { out in
            table.value.withUnsafeBufferPointer(as: S.self) { t in
                for (i, id) in ids.enumerated() {
                    let row = Int(id) * width
                    for j in 0..<width { out[i * width + j] = t[row + j] }
                }
            }
        }
    }
    let value = table.dtype == .float32 ? gather(Float.self) : gather(Double.self)
    return Variable(value, inputs: [table]) { g in
        func scatter<S: TensorScalar>(_: S.Type) -> Tensor {
            Tensor(shape: [vocabulary, width], of: S.self) { dt in
                for i in 0..<(vocabulary * width) { dt[i] = 0 }
                g.withUnsafeBufferPointer(as: S.self) { gp in
                    for (i, id) in ids.enumerated() {
                        let row = Int(id) * width
                        for j in 0..<width { dt[row + j] += gp[i * width + j] }
                    }
                }
            }
        }
        return [table.dtype == .float32 ? scatter(Float.self) : scatter(Double.self)]
    }
}
