// Matrix products on BLAS. `linear` and its two backward products are the workhorses of
// every model: x [N, in] times a weight w [out, in] stored as PyTorch does (y = x wᵀ).

/// Rows per part below which a row-parallel product stays in one call.
public let rowGrain = 64

/// At most this many row parts per product (a constant, so the parts are the same on every machine).
public let productMaxParts = 16

/// The row parts of a row-parallel product C [rows, n] = A [rows, k] · op(B): a function of the
/// shape alone, never of the thread count or of which lanes are idle at the moment.
///
/// Why: cutting a product's rows can change its bits. OpenBLAS's SkylakeX kernels (Float and
/// Double) run a small-matrix kernel when M·N·K ≤ 100³ and their large kernel otherwise, and the
/// two do not always sum an element's K terms in the same order (row-major A·Bᵀ with n = 10,
/// k = 40: every call of fewer than 121 rows differs from a call of more). Inside a micro-batch's
/// lane the worker count is 1 plus the idle lanes (`Parallel.workers`), so when the parts followed
/// it, the read-out of a 150-row piece was computed whole or in two 75-row halves depending on
/// timing, and full-mesa, hybrid-mesa and softmax-7 at batch 12 or 16 gave other bytes from run
/// to run. Parts of more than 100³ / (n·k) rows stay in the large kernel, so on that BLAS they
/// also give the bits of one call on all the rows, as one thread computed them before the parts
/// (`scripts/gemm512-check.sh row-split` checks this for Float and Double at n ≤ 256; Double at
/// n = 257 and 300 is an exception). Whatever the BLAS, the bits depend on the shape only.
public func productRowParts(rows: Int, n: Int, k: Int) -> [Range<Int>] {
    let minRows = max(rowGrain, 1_000_000 / max(1, n * k) + 1)
    return Parallel.split(rows, parts: max(1, min(productMaxParts, rows / minRows)))
}

/// C = op(A) op(B) for 2-D tensors, or batched over a shared leading dimension for 3-D
/// tensors ([batch, m, k] · [batch, k, n]).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.dtype == b.dtype, "matmul: dtypes \(a.dtype) and \(b.dtype) differ")
    precondition(a.shape.count == b.shape.count && (a.shape.count == 2 || a.shape.count == 3),
                 "matmul: expects two 2-D or two 3-D tensors, got \(a.shape) and \(b.shape)")
    let batched = a.shape.count == 3
    let batch = batched ? a.shape[0] : 1
    if batched { precondition(b.shape[0] == batch, "matmul: batch sizes \(a.shape) and \(b.shape) differ") }
    let ar = a.shape[a.shape.count - 2], ac = a.shape[a.shape.count - 1]
    let br = b.shape[b.shape.count - 2], bc = b.shape[b.shape.count - 1]
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    precondition(k == k2, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: batched ? [batch, m, n] : [m, n], of: S.self) { c in
            a.withUnsafeBufferPointer(as: S.self) { ap in
                b.withUnsafeBufferPointer(as: S.self) { bp in
                    let body: (Int) -> Void = { i in
                        S.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                               alpha: 1, a: ap.baseAddress! + i * ar * ac, lda: ac,
                               b: bp.baseAddress! + i * br * bc, ldb: bc,
                               beta: 0, c: c.baseAddress! + i * m * n, ldc: n)
                    }
                    if batch == 1 { body(0) } else { Parallel.forEach(batch, body) }
                }
            }
        }
    }
    if m * n * k == 0 { return Tensor(zeros: batched ? [batch, m, n] : [m, n], dtype: a.dtype) }
    return a.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// C [..., n] = A [..., k] · op(W): op(W) = Wᵀ for W [n, k] (`transposeW`), else W for W [k, n];
/// the rows of A and C split over the cores in `productRowParts`.
private func rowParallelProduct(_ a: Tensor, _ w: Tensor, transposeW: Bool, n: Int) -> Tensor {
    let (rows, k) = a.matrixShape
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: Array(a.shape.dropLast()) + [n], of: S.self) { c in
            a.withUnsafeBufferPointer(as: S.self) { ap in
                w.withUnsafeBufferPointer(as: S.self) { wp in
                    let parts = productRowParts(rows: rows, n: n, k: k)
                    Parallel.forEach(parts.count) { p in
                        let r = parts[p]
                        guard !r.isEmpty else { return }
                        S.gemm(transA: false, transB: transposeW, m: r.count, n: n, k: k,
                               alpha: 1, a: ap.baseAddress! + r.lowerBound * k, lda: k,
                               b: wp.baseAddress!, ldb: transposeW ? k : n,
                               beta: 0, c: c.baseAddress! + r.lowerBound * n, ldc: n)
                    }
                }
            }
        }
    }
    return a.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// y = x wᵀ: x [..., in], w [out, in] → y [..., out]. Rows are split over the cores in
/// `productRowParts`.
public func linear(_ x: Tensor, _ w: Tensor) -> Tensor {
    precondition(w.shape.count == 2, "linear: weight must be [out, in], got \(w.shape)")
    precondition(x.dtype == w.dtype, "linear: dtypes \(x.dtype) and \(w.dtype) differ")
    precondition(x.matrixShape.cols == w.shape[1], "linear: input width \(x.matrixShape.cols) does not match weight \(w.shape)")
    return rowParallelProduct(x, w, transposeW: true, n: w.shape[0])
}

/// dL/dx = dL/dy · w for y = x wᵀ.
public func linearBackwardInput(_ dy: Tensor, _ w: Tensor) -> Tensor {
    precondition(w.shape.count == 2 && dy.matrixShape.cols == w.shape[0], "linearBackwardInput: \(dy.shape) vs weight \(w.shape)")
    precondition(dy.dtype == w.dtype, "linearBackwardInput: dtypes \(dy.dtype) and \(w.dtype) differ")
    return rowParallelProduct(dy, w, transposeW: false, n: w.shape[1])
}

/// dL/dw = (dL/dy)ᵀ x for y = x wᵀ, summed over all rows as `Parallel.reductionParts`
/// partial products added in a fixed order (the same bits whatever the thread count).
public func linearBackwardWeight(_ dy: Tensor, _ x: Tensor) -> Tensor {
    let (rows, outDim) = dy.matrixShape
    let (xRows, inDim) = x.matrixShape
    precondition(rows == xRows, "linearBackwardWeight: \(dy.shape) vs input \(x.shape)")
    let parts = rows >= Parallel.reductionParts * rowGrain ? Parallel.reductionParts : 1
    let ranges = Parallel.split(rows, parts: parts)
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        let size = outDim * inDim
        return TensorPool.shared.withScratch(S.self, count: parts * size) { partial in
        dy.withUnsafeBufferPointer(as: S.self) { gp in
            x.withUnsafeBufferPointer(as: S.self) { xp in
                Parallel.forEach(parts) { p in
                    let r = ranges[p]
                    S.gemm(transA: true, transB: false, m: outDim, n: inDim, k: r.count,
                           alpha: 1, a: gp.baseAddress! + r.lowerBound * outDim, lda: outDim,
                           b: xp.baseAddress! + r.lowerBound * inDim, ldb: inDim,
                           beta: 0, c: partial + p * size, ldc: inDim)
                }
            }
        }
        return Tensor(shape: [outDim, inDim], of: S.self) { dw in
            for i in 0..<size {
                var s = partial[i]
                for p in 1..<parts { s += partial[p * size + i] }
                dw[i] = s
            }
        }
        }
    }
    return dy.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// The transpose of a 2-D tensor.
public func transpose(_ x: Tensor) -> Tensor {
    precondition(x.shape.count == 2, "transpose expects a 2-D tensor, got \(x.shape)")
    let (r, c) = (x.shape[0], x.shape[1])
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: [c, r], of: S.self) { out in
            x.withUnsafeBufferPointer(as: S.self) { p in
                for i in 0..<r { for j in 0..<c { out[j * r + i] = p[i * c + j] } }
            }
        }
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}
