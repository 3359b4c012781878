import RealModule

// Element-wise kernels. Each public function checks shapes, picks the element type, and
// runs one specialized, vectorized loop. A tensor of at least `elementwiseGrain` elements per
// worker is cut into one contiguous chunk per worker (`Parallel.forChunks`): these loops run at
// memory speed, and on the calling thread alone the residual adds, the activation clip and
// the gradient accumulations of a softmax-7 step were ~7% of its CPU time with the other
// core idle (BENCHMARKS.md, "Speed II — thread scaling"). Every element is computed by the
// same expression whatever the split, so the bytes do not depend on the thread count.

/// Elements per worker below which an element-wise loop stays on the calling thread (the
/// hand-off to a second thread costs about as much as 64 Ki elements of a loop at memory speed).
public let elementwiseGrain = 1 << 16

@inline(__always)
func checkSame(_ a: Tensor, _ b: Tensor, _ op: String) {
    precondition(a.shape == b.shape, "\(op): shapes \(a.shape) and \(b.shape) differ")
    precondition(a.dtype == b.dtype, "\(op): dtypes \(a.dtype) and \(b.dtype) differ")
}

/// Runs `body` on 0..<count: in one call below `elementwiseGrain` elements per worker, else in
/// one contiguous chunk per worker.
@inline(__always)
func forElementChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
    if count < 2 * elementwiseGrain || Parallel.workers == 1 { body(0..<count) } else {
        Parallel.forChunks(count, grain: elementwiseGrain, body)
    }
}

/// out[i] = f(x[i]) with f specialized per element type.
@inline(__always)
func unary<S: TensorScalar>(_ x: Tensor, _: S.Type, _ f: (S) -> S) -> Tensor {
    Tensor(shape: x.shape, of: S.self) { out in
        x.withUnsafeBufferPointer(as: S.self) { xp in
            forElementChunks(xp.count) { r in for i in r { out[i] = f(xp[i]) } }
        }
    }
}

/// out[i] = f(a[i], b[i]).
@inline(__always)
func binary<S: TensorScalar>(_ a: Tensor, _ b: Tensor, _: S.Type, _ f: (S, S) -> S) -> Tensor {
    Tensor(shape: a.shape, of: S.self) { out in
        a.withUnsafeBufferPointer(as: S.self) { ap in
            b.withUnsafeBufferPointer(as: S.self) { bp in
                forElementChunks(ap.count) { r in for i in r { out[i] = f(ap[i], bp[i]) } }
            }
        }
    }
}

/// out[i] = f(a[i], b[i], c[i]).
@inline(__always)
func ternary<S: TensorScalar>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _: S.Type,
                              _ f: (S, S, S) -> S) -> Tensor {
    Tensor(shape: a.shape, of: S.self) { out in
        a.withUnsafeBufferPointer(as: S.self) { ap in
            b.withUnsafeBufferPointer(as: S.self) { bp in
                c.withUnsafeBufferPointer(as: S.self) { cp in
                    forElementChunks(ap.count) { r in for i in r { out[i] = f(ap[i], bp[i], cp[i]) } }
                }
            }
        }
    }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "+")
        return a.dtype == .float32 ? binary(a, b, Float.self, +) : binary(a, b, Double.self, +)
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "-")
        return a.dtype == .float32 ? binary(a, b, Float.self, -) : binary(a, b, Double.self, -)
    }

    /// Element-wise (Hadamard) product.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "*")
        return a.dtype == .float32 ? binary(a, b, Float.self, *) : binary(a, b, Double.self, *)
    }

    public static func * (s: Double, x: Tensor) -> Tensor {
        x.dtype == .float32 ? unary(x, Float.self) { Float(s) * $0 } : unary(x, Double.self) { s * $0 }
    }

    public static prefix func - (x: Tensor) -> Tensor { -1 * x }

    /// self += s * other, in place (the accumulate of every backward pass and optimizer).
    public mutating func addScaled(_ other: Tensor, _ s: Double = 1) {
        checkSame(self, other, "addScaled")
        func run<S: TensorScalar>(_: S.Type) {
            let c = S(s)
            guard isKnownUniquelyReferenced(&storage) else {
                // Shared storage (a gradient handed to two inputs): one pass into a fresh buffer,
                // not a copy and then the sum. The same expression, so the same bits.
                self = binary(self, other, S.self) { a, b in a + c * b }
                return
            }
            other.withUnsafeBufferPointer(as: S.self) { op in
                withUnsafeMutableBufferPointer(as: S.self) { sp in
                    forElementChunks(sp.count) { r in for i in r { sp[i] += c * op[i] } }
                }
            }
        }
        dtype == .float32 ? run(Float.self) : run(Double.self)
    }

    /// Applies `f` to every element (analysis helper; not for hot loops).
    public func map(_ f: (Double) -> Double) -> Tensor {
        dtype == .float32 ? unary(self, Float.self) { Float(f(Double($0))) } : unary(self, Double.self, f)
    }

    /// Sum of all elements, accumulated in Double.
    public func sum() -> Double {
        func run<S: TensorScalar>(_: S.Type) -> Double {
            withUnsafeBufferPointer(as: S.self) { p in
                var s = 0.0
                for v in p { s += Double(v) }
                return s
            }
        }
        return dtype == .float32 ? run(Float.self) : run(Double.self)
    }

    /// Sum of squares of all elements, accumulated in Double.
    public func sumOfSquares() -> Double {
        // Four running lanes (vectorizes, keeps the rounding error low); one mechanism with the
        // piecewise sum of a held-out batch evaluated in chunks.
        var sum = SumOfSquaresAccumulator()
        sum.add(self)
        return sum.total
    }

    public func mean() -> Double { sum() / Double(Swift.max(count, 1)) }
}

// MARK: - Activation clipping, SPEC §2: x ↦ min(max(x, −c), c)

public func clip(_ x: Tensor, _ c: Double) -> Tensor {
    x.dtype == .float32
        ? unary(x, Float.self) { Swift.min(Swift.max($0, -Float(c)), Float(c)) }
        : unary(x, Double.self) { Swift.min(Swift.max($0, -c), c) }
}

/// dL/dx = dL/dy where |x| < c, else 0.
public func clipBackward(_ dy: Tensor, _ x: Tensor, _ c: Double) -> Tensor {
    checkSame(dy, x, "clipBackward")
    return x.dtype == .float32
        ? binary(dy, x, Float.self) { g, v in abs(v) < Float(c) ? g : 0 }
        : binary(dy, x, Double.self) { g, v in abs(v) < c ? g : 0 }
}

// MARK: - GELU (tanh form, as in GPT-2 and JAX's default)
// gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))

@inlinable @inline(__always)
public func geluValue<S: TensorScalar>(_ x: S) -> S {
    geluValueAndDerivative(x).value
}

@inlinable @inline(__always)
public func geluDerivative<S: TensorScalar>(_ x: S) -> S {
    geluValueAndDerivative(x).derivative
}

/// gelu(x) and gelu′(x) from one tanh.
@inlinable @inline(__always)
public func geluValueAndDerivative<S: TensorScalar>(_ x: S) -> (value: S, derivative: S) {
    let c = S(0.7978845608028654)
    let th = tensorTanh(c * (x + S(0.044715) * x * x * x))
    let du = c * (1 + 3 * S(0.044715) * x * x)
    return (S(0.5) * x * (1 + th), S(0.5) * (1 + th) + S(0.5) * x * (1 - th * th) * du)
}

public func gelu(_ x: Tensor) -> Tensor {
    x.dtype == .float32 ? unary(x, Float.self, geluValue) : unary(x, Double.self, geluValue)
}

public func geluBackward(_ dy: Tensor, _ x: Tensor) -> Tensor {
    checkSame(dy, x, "geluBackward")
    return x.dtype == .float32
        ? binary(dy, x, Float.self) { g, v in g * geluDerivative(v) }
        : binary(dy, x, Double.self) { g, v in g * geluDerivative(v) }
}

// MARK: - Row-broadcast bias: y[r, c] = x[r, c] + b[c]

/// x [..., C] + b [C].
public func addBias(_ x: Tensor, _ b: Tensor) -> Tensor {
    let (rows, cols) = x.matrixShape
    precondition(b.shape == [cols] && b.dtype == x.dtype, "addBias: bias \(b.shape) for rows of width \(cols)")
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        Tensor(shape: x.shape, of: S.self) { out in
            x.withUnsafeBufferPointer(as: S.self) { xp in
                b.withUnsafeBufferPointer(as: S.self) { bp in
                    for r in 0..<rows { for c in 0..<cols { out[r * cols + c] = xp[r * cols + c] + bp[c] } }
                }
            }
        }
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Σ over rows of g [..., C] → [C], in `Parallel.reductionParts` fixed parts added in order.
public func sumRows(_ g: Tensor) -> Tensor {
    let (rows, cols) = g.matrixShape
    let ranges = Parallel.split(rows, parts: Parallel.reductionParts)
    func run<S: TensorScalar>(_: S.Type) -> Tensor {
        g.withUnsafeBufferPointer(as: S.self) { gp in
            var partial = [S](repeating: 0, count: ranges.count * cols)
            for (p, range) in ranges.enumerated() {
                for r in range { for c in 0..<cols { partial[p * cols + c] += gp[r * cols + c] } }
            }
            var total = [S](repeating: 0, count: cols)
            for p in 0..<ranges.count { for c in 0..<cols { total[c] += partial[p * cols + c] } }
            return Tensor(shape: [cols], total)
        }
    }
    return g.dtype == .float32 ? run(Float.self) : run(Double.self)
}
