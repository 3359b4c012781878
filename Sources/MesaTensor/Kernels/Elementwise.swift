import RealModule

// Element-wise kernels. Each public function checks shapes, picks the element type, and runs
// one specialized, vectorized loop. A tensor of at least `elementwiseGrain` elements per worker
// is cut into one contiguous chunk per worker (`Parallel.forChunks`): on the calling thread
// alone, the residual adds, the activation clip and the gradient accumulations were ~5% of a
// two-thread softmax-7 step's CPU time with the other core waiting (BENCHMARKS.md, "Speed II —
// thread scaling"). The operation is a type (`ElementOp1`, `ElementOp2`), not a closure value:
// a closure captured by the closure that runs on a worker is not inlined, and the loop would
// call it per element (2.5x the CPU time, measured). Every element is computed by the same
// expression whatever the split, so the bytes do not depend on the thread count.

/// Elements per worker below which an element-wise loop stays on the calling thread (the
/// hand-off to a second thread costs about as much as 64 Ki elements of a loop at memory speed).
public let elementwiseGrain = 1 << 16

@inline(__always)
func checkSame(_ a: Tensor, _ b: Tensor, _ op: String) {
    precondition(a.shape == b.shape, "\(op): shapes \(a.shape) and \(b.shape) differ")
    precondition(a.dtype == b.dtype, "\(op): dtypes \(a.dtype) and \(b.dtype) differ")
}

/// y = op(x) for one element.
protocol ElementOp1 {
    associatedtype S: TensorScalar
    func callAsFunction(_ x: S) -> S
}

/// y = op(a, b) for one element.
protocol ElementOp2 {
    associatedtype S: TensorScalar
    func callAsFunction(_ a: S, _ b: S) -> S
}

/// Runs `body` on 0..<count: in one call below `elementwiseGrain` elements per worker, else in
/// one contiguous chunk per worker.
@inline(__always)
func forElementChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
    if count < 2 * elementwiseGrain || Parallel.workers == 1 { body(0..<count) } else {
        Parallel.forChunks(count, grain: elementwiseGrain, body)
    }
}

/// out[i] = op(x[i]).
@inline(__always)
func elementwise<Op: ElementOp1>(_ x: Tensor, _ op: Op) -> Tensor {
    Tensor(shape: x.shape, of: Op.S.self) { out in
        x.withUnsafeBufferPointer(as: Op.S.self) { xp in
            forElementChunks(xp.count) { r in for i in r { out[i] = op(xp[i]) } }
        }
    }
}

/// out[i] = op(a[i], b[i]).
@inline(__always)
func elementwise<Op: ElementOp2>(_ a: Tensor, _ b: Tensor, _ op: Op) -> Tensor {
    Tensor(shape: a.shape, of: Op.S.self) { out in
        a.withUnsafeBufferPointer(as: Op.S.self) { ap in
            b.withUnsafeBufferPointer(as: Op.S.self) { bp in
                forElementChunks(ap.count) { r in for i in r { out[i] = op(ap[i], bp[i]) } }
            }
        }
    }
}

struct AddOp<S: TensorScalar>: ElementOp2 { @inline(__always) func callAsFunction(_ a: S, _ b: S) -> S { a + b } }
struct SubtractOp<S: TensorScalar>: ElementOp2 { @inline(__always) func callAsFunction(_ a: S, _ b: S) -> S { a - b } }
struct MultiplyOp<S: TensorScalar>: ElementOp2 { @inline(__always) func callAsFunction(_ a: S, _ b: S) -> S { a * b } }
/// a + c·b (`addScaled`).
struct AddScaledOp<S: TensorScalar>: ElementOp2 {
    let c: S
    @inline(__always) func callAsFunction(_ a: S, _ b: S) -> S { a + c * b }
}
struct ScaleOp<S: TensorScalar>: ElementOp1 {
    let s: S
    @inline(__always) func callAsFunction(_ x: S) -> S { s * x }
}
struct ClipOp<S: TensorScalar>: ElementOp1 {
    let c: S
    @inline(__always) func callAsFunction(_ x: S) -> S { Swift.min(Swift.max(x, -c), c) }
}
/// (a, b) ↦ clip(a + b) to [−c, c]: the residual add and the activation clip in one pass.
struct AddClipOp<S: TensorScalar>: ElementOp2 {
    let c: S
    @inline(__always) func callAsFunction(_ a: S, _ b: S) -> S { Swift.min(Swift.max(a + b, -c), c) }
}
/// (g, x) ↦ g where |x| < c, else 0.
struct ClipBackwardOp<S: TensorScalar>: ElementOp2 {
    let c: S
    @inline(__always) func callAsFunction(_ g: S, _ x: S) -> S { abs(x) < c ? g : 0 }
}
struct GeluOp<S: TensorScalar>: ElementOp1 { @inline(__always) func callAsFunction(_ x: S) -> S { geluValue(x) } }
/// (g, x) ↦ g·gelu′(x).
struct GeluBackwardOp<S: TensorScalar>: ElementOp2 {
    @inline(__always) func callAsFunction(_ g: S, _ x: S) -> S { g * geluDerivative(x) }
}

/// out[i] = f(x[i]) on the calling thread (analysis helpers).
@inline(__always)
func unary<S: TensorScalar>(_ x: Tensor, _: S.Type, _ f: (S) -> S) -> Tensor {
    Tensor(shape: x.shape, of: S.self) { out in
        x.withUnsafeBufferPointer(as: S.self) { xp in
            for i in 0..<xp.count { out[i] = f(xp[i]) }
        }
    }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "+")
        return a.dtype == .float32 ? elementwise(a, b, AddOp<Float>()) : elementwise(a, b, AddOp<Double>())
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "-")
        return a.dtype == .float32 ? elementwise(a, b, SubtractOp<Float>()) : elementwise(a, b, SubtractOp<Double>())
    }

    /// Element-wise (Hadamard) product.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        checkSame(a, b, "*")
        return a.dtype == .float32 ? elementwise(a, b, MultiplyOp<Float>()) : elementwise(a, b, MultiplyOp<Double>())
    }

    public static func * (s: Double, x: Tensor) -> Tensor {
        x.dtype == .float32 ? elementwise(x, ScaleOp(s: Float(s))) : elementwise(x, ScaleOp(s: s))
    }

    public static prefix func - (x: Tensor) -> Tensor { -1 * x }

    /// self += s * other, in place (the accumulate of every backward pass and optimizer).
    public mutating func addScaled(_ other: Tensor, _ s: Double = 1) {
        checkSame(self, other, "addScaled")
        func run<S: TensorScalar>(_: S.Type) {
            let op = AddScaledOp(c: S(s))
            guard isKnownUniquelyReferenced(&storage) else {
                // Shared storage (a gradient handed to two inputs): one pass into a fresh buffer,
                // not a copy and then the sum. The same expression, so the same bits.
                self = elementwise(self, other, op)
                return
            }
            other.withUnsafeBufferPointer(as: S.self) { bp in
                withUnsafeMutableBufferPointer(as: S.self) { ap in
                    forElementChunks(ap.count) { r in for i in r { ap[i] = op(ap[i], bp[i]) } }
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
        ? elementwise(x, ClipOp(c: Float(c)))
        : elementwise(x, ClipOp(c: c))
}

/// clip(a + b) to [−c, c], element by element: `clip(a + b, c)` in one pass.
public func addClipped(_ a: Tensor, _ b: Tensor, _ c: Double) -> Tensor {
    checkSame(a, b, "addClipped")
    return a.dtype == .float32 ? elementwise(a, b, AddClipOp(c: Float(c))) : elementwise(a, b, AddClipOp(c: c))
}

/// dL/dx = dL/dy where |x| < c, else 0.
public func clipBackward(_ dy: Tensor, _ x: Tensor, _ c: Double) -> Tensor {
    checkSame(dy, x, "clipBackward")
    return x.dtype == .float32
        ? elementwise(dy, x, ClipBackwardOp(c: Float(c)))
        : elementwise(dy, x, ClipBackwardOp(c: c))
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
    x.dtype == .float32 ? elementwise(x, GeluOp<Float>()) : elementwise(x, GeluOp<Double>())
}

public func geluBackward(_ dy: Tensor, _ x: Tensor) -> Tensor {
    checkSame(dy, x, "geluBackward")
    return x.dtype == .float32
        ? elementwise(dy, x, GeluBackwardOp<Float>())
        : elementwise(dy, x, GeluBackwardOp<Double>())
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
