import MesaTensor

// The MLP sublayer of SPEC §2 (no biases) as one operation, computed tile by tile:
//   U = X W₁ᵀ,  Y = gelu(U) W₂ᵀ                 (X [N, D], W₁ [D_h, D], W₂ [D, D_h])
// A tile is ~512 rows, so gelu(U) and its gradient stay in cache between the two products
// instead of making whole-batch round trips through memory (the composition allocates and
// streams four [N, D_h] tensors per step). The forward keeps U; the backward recomputes
// gelu(U) and gelu′(U) per tile (one tanh each):
//   dW₂ = dYᵀ gelu(U),  dU = (dY W₂) ⊙ gelu′(U),  dX = dU W₁,  dW₁ = dUᵀ X.
// The composition `down(gelu(up(x)))` is the reference this is tested against
// (Tests/MesaNNTests/MLPKernelTests.swift).

struct MLPShape {
    let rows: Int, width: Int, hidden: Int

    init(x: Tensor, up w1: Tensor, down w2: Tensor) {
        precondition(w1.shape.count == 2 && w2.shape == [w1.shape[1], w1.shape[0]],
                     "MLP: W_up \(w1.shape) and W_down \(w2.shape) must be [D_h, D] and [D, D_h]")
        precondition(x.shape.last == w1.shape[1], "MLP: input \(x.shape) does not fit W_up \(w1.shape)")
        precondition(x.dtype == w1.dtype && x.dtype == w2.dtype, "MLP: mixed dtypes")
        width = w1.shape[1]
        hidden = w1.shape[0]
        rows = x.count / max(width, 1)
    }

    static let tileRows = 512
    var tiles: Int { (rows + Self.tileRows - 1) / Self.tileRows }
}

/// Forward: Y (shape of X) and U = X W₁ᵀ [N, D_h] for the backward. Without `keepHidden` (no
/// backward to follow) U lives one tile at a time and the returned `u` is empty.
public func mlpForward(x: Tensor, up w1: Tensor, down w2: Tensor, keepHidden: Bool = true) -> (y: Tensor, u: Tensor) {
    let s = MLPShape(x: x, up: w1, down: w2)
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor) {
        var u = Tensor(uninitializedShape: keepHidden ? [s.rows, s.hidden] : [0], dtype: S.dtype)
        let y = Tensor(shape: x.shape, of: S.self) { yp in
            x.withUnsafeBufferPointer(as: S.self) { xp in
            w1.withUnsafeBufferPointer(as: S.self) { w1p in
            w2.withUnsafeBufferPointer(as: S.self) { w2p in
            u.withUnsafeMutableBufferPointer(as: S.self) { up in
                Parallel.forChunks(s.tiles, perWorker: 4) { tiles in
                  TensorPool.shared.withScratch(S.self, count: MLPShape.tileRows * s.hidden * (keepHidden ? 1 : 2)) { g in
                    for tile in tiles {
                        let r0 = tile * MLPShape.tileRows, n = min(s.rows, r0 + MLPShape.tileRows) - r0
                        let uTile = keepHidden ? up.baseAddress! + r0 * s.hidden : g + MLPShape.tileRows * s.hidden
                        S.gemm(transA: false, transB: true, m: n, n: s.hidden, k: s.width, alpha: 1,
                               a: xp.baseAddress! + r0 * s.width, lda: s.width, b: w1p.baseAddress!, ldb: s.width,
                               beta: 0, c: uTile, ldc: s.hidden)
                        GeluKernels.values(uTile, into: g, count: n * s.hidden)
                        S.gemm(transA: false, transB: true, m: n, n: s.width, k: s.hidden, alpha: 1,
                               a: g, lda: s.hidden, b: w2p.baseAddress!, ldb: s.hidden,
                               beta: 0, c: yp.baseAddress! + r0 * s.width, ldc: s.width)
                    }
                  }
                }
            }}}}
        }
        return (y, u)
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Backward of `mlpForward`. The weight gradients are summed over rows in
/// `Parallel.reductionParts` fixed parts, added in order (independent of thread count).
/// Without `weightGradients` only dX is computed (dUp and dDown come back 0).
public func mlpBackward(dy: Tensor, x: Tensor, u: Tensor, up w1: Tensor, down w2: Tensor, weightGradients: Bool = true)
    -> (dx: Tensor, dUp: Tensor, dDown: Tensor) {
    let s = MLPShape(x: x, up: w1, down: w2)
    precondition(dy.shape == x.shape && u.shape == [s.rows, s.hidden], "MLP backward: shapes")
    let parts = Parallel.split(s.rows, parts: Parallel.reductionParts)
    let partSize = 2 * s.hidden * s.width
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor) {
        let accBytes = max(1, parts.count * partSize) * MemoryLayout<S>.stride
        let accRaw = TensorPool.shared.take(accBytes)
        defer { TensorPool.shared.give(accRaw, accBytes) }
        let acc = accRaw.bindMemory(to: S.self, capacity: parts.count * partSize)
        acc.initialize(repeating: 0, count: parts.count * partSize)
        let dx = Tensor(shape: x.shape, of: S.self) { dxp in
            dy.withUnsafeBufferPointer(as: S.self) { dyp in
            x.withUnsafeBufferPointer(as: S.self) { xp in
            u.withUnsafeBufferPointer(as: S.self) { up in
            w1.withUnsafeBufferPointer(as: S.self) { w1p in
            w2.withUnsafeBufferPointer(as: S.self) { w2p in
                Parallel.forEach(parts.count) { part in
                    let dW1 = acc + part * partSize, dW2 = dW1 + s.hidden * s.width
                    let gBytes = 3 * MLPShape.tileRows * s.hidden * MemoryLayout<S>.stride
                    let gRaw = TensorPool.shared.take(gBytes)
                    defer { TensorPool.shared.give(gRaw, gBytes) }
                    let g = gRaw.bindMemory(to: S.self, capacity: 3 * MLPShape.tileRows * s.hidden)
                    let dU = g + MLPShape.tileRows * s.hidden, derivative = dU + MLPShape.tileRows * s.hidden
                    var r0 = parts[part].lowerBound
                    while r0 < parts[part].upperBound {
                        let n = min(parts[part].upperBound, r0 + MLPShape.tileRows) - r0
                        let uTile = up.baseAddress! + r0 * s.hidden, dyTile = dyp.baseAddress! + r0 * s.width
                        GeluKernels.valuesAndDerivatives(uTile, into: g, derivatives: derivative, count: n * s.hidden)
                        // dW₂ += dYᵀ gelu(U);  dG = dY W₂;  dU = dG ⊙ gelu′(U)
                        if weightGradients {
                            S.gemm(transA: true, transB: false, m: s.width, n: s.hidden, k: n, alpha: 1,
                                   a: dyTile, lda: s.width, b: g, ldb: s.hidden, beta: 1, c: dW2, ldc: s.hidden)
                        }
                        S.gemm(transA: false, transB: false, m: n, n: s.hidden, k: s.width, alpha: 1,
                               a: dyTile, lda: s.width, b: w2p.baseAddress!, ldb: s.hidden, beta: 0, c: dU, ldc: s.hidden)
                        for i in 0..<(n * s.hidden) { dU[i] *= derivative[i] }
                        // dX = dU W₁;  dW₁ += dUᵀ X
                        S.gemm(transA: false, transB: false, m: n, n: s.width, k: s.hidden, alpha: 1,
                               a: dU, lda: s.hidden, b: w1p.baseAddress!, ldb: s.width, beta: 0,
                               c: dxp.baseAddress! + r0 * s.width, ldc: s.width)
                        if weightGradients {
                            S.gemm(transA: true, transB: false, m: s.hidden, n: s.width, k: n, alpha: 1,
                                   a: dU, lda: s.hidden, b: xp.baseAddress! + r0 * s.width, ldb: s.width,
                                   beta: 1, c: dW1, ldc: s.width)
                        }
                        r0 += n
                    }
                }
            }}}}}
        }
        for part in 1..<parts.count {
            for i in 0..<partSize { acc[i] += acc[part * partSize + i] }
        }
        let dW1 = Tensor(shape: w1.shape, of: S.self) { d in for i in 0..<d.count { d[i] = acc[i] } }
        let dW2 = Tensor(shape: w2.shape, of: S.self) { d in for i in 0..<d.count { d[i] = acc[s.hidden * s.width + i] } }
        return (dx, dW1, dW2)
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// The MLP sublayer gelu(x W_upᵀ) W_downᵀ as one differentiable operation.
public func mlpSublayer(_ x: Variable, up: Variable, down: Variable) -> Variable {
    // U is kept only when `Variable` will keep the pullback that reads it.
    let backward = Variable.gradientsEnabled && [x, up, down].contains { $0.requiresGrad }
    let (y, u) = mlpForward(x: x.value, up: up.value, down: down.value, keepHidden: backward)
    return Variable(y, inputs: [x, up, down]) { dy in
        let g = mlpBackward(dy: dy, x: x.value, u: u, up: up.value, down: down.value,
                            weightGradients: up.requiresGrad || down.requiresGrad)
        return [g.dx, g.dUp, g.dDown]
    }
}
