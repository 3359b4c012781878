/// `Tensor.sumOfSquares()` of a tensor handed over in consecutive pieces (a held-out batch
/// evaluated a few sequences at a time): the same four running lanes fed in the same order —
/// element i of the whole goes to lane i mod 4, a piece that ends inside a group of four
/// leaves its last elements pending for the next — so `total` has the same bits as one
/// `sumOfSquares()` of the concatenation.
public struct SumOfSquaresAccumulator {
    private var lanes = SIMD4<Double>()
    private var pending = SIMD4<Double>()
    private var pendingCount = 0

    public init() {}

    /// Appends the elements of `piece` (row-major order) to the sum.
    public mutating func add(_ piece: Tensor) {
        piece.dtype == .float32
            ? piece.withUnsafeBufferPointer(as: Float.self) { add($0) }
            : piece.withUnsafeBufferPointer(as: Double.self) { add($0) }
    }

    private mutating func add<S: TensorScalar>(_ p: UnsafeBufferPointer<S>) {
        var i = 0
        while pendingCount > 0 && pendingCount < 4 && i < p.count {
            pending[pendingCount] = Double(p[i])
            pendingCount += 1
            i += 1
        }
        if pendingCount == 4 {
            lanes += pending * pending
            pendingCount = 0
        }
        let n4 = i + (p.count - i) / 4 * 4
        while i < n4 {
            let d = SIMD4(Double(p[i]), Double(p[i + 1]), Double(p[i + 2]), Double(p[i + 3]))
            lanes += d * d
            i += 4
        }
        while i < p.count {
            pending[pendingCount] = Double(p[i])
            pendingCount += 1
            i += 1
        }
    }

    /// The sum so far, reduced as `sumOfSquares()` reduces: the lanes, then the elements of the
    /// last incomplete group one by one.
    public var total: Double {
        var s = lanes.sum()
        for j in 0..<pendingCount { let d = pending[j]; s += d * d }
        return s
    }
}

/// `halfSquaredError(pred, target, weights:).value.item` of a batch whose predictions arrive a
/// few sequences at a time (`add` the pieces in order, first rows first): the same elementwise
/// operations in the same precision and the sums in the same order, so `value` has the same
/// bits as the loss of the whole batch — without ever holding the whole prediction.
public struct HalfSquaredErrorAccumulator {
    /// Positions (rows of the [rows, cols] view) of the whole batch.
    public let rows: Int
    public let dtype: DType
    private let weights: [Double]?
    private let weightTotal: Double
    private var squares = SumOfSquaresAccumulator()
    private var weighted = 0.0
    /// Rows added so far.
    public private(set) var rowsAdded = 0

    /// For a batch of `rows` positions predicted in `dtype`, weighted by `weights` (the whole
    /// batch's [B, T] loss mask) when given.
    public init(rows: Int, dtype: DType, weights: Tensor? = nil) {
        self.rows = rows
        self.dtype = dtype
        if let w = weights {
            precondition(w.count == rows, "loss weights \(w.shape) for \(rows) positions")
            let wd = w.doubles
            self.weights = wd
            weightTotal = wd.reduce(0, +)
            precondition(weightTotal > 0, "loss weights sum to zero")
        } else {
            self.weights = nil
            weightTotal = 0
        }
    }

    /// The next rows' predictions and targets (same shape, [..., cols]).
    public mutating func add(_ pred: Tensor, _ target: Tensor) {
        precondition(pred.shape == target.shape, "loss: prediction \(pred.shape) vs target \(target.shape)")
        precondition(pred.dtype == dtype, "loss: prediction in \(pred.dtype), accumulator in \(dtype)")
        let diff = pred - target.converted(to: pred.dtype)
        let (pieceRows, cols) = diff.matrixShape
        precondition(rowsAdded + pieceRows <= rows, "loss: \(rowsAdded + pieceRows) rows added to a batch of \(rows)")
        defer { rowsAdded += pieceRows }
        guard let wd = weights else {
            squares.add(diff)
            return
        }
        let first = rowsAdded
        let weightsByElement = Tensor(shape: diff.shape,
                                      (0..<(pieceRows * cols)).map { wd[first + $0 / cols] / weightTotal }, dtype: dtype)
        let products = diff * diff * weightsByElement
        func run<S: TensorScalar>(_: S.Type) {
            products.withUnsafeBufferPointer(as: S.self) { p in
                for v in p { weighted += Double(v) }
            }
        }
        dtype == .float32 ? run(Float.self) : run(Double.self)
    }

    /// The loss of the rows added (all of them: checked), as the whole batch's scalar holds it.
    public var value: Double {
        precondition(rowsAdded == rows, "loss: \(rowsAdded) of \(rows) rows added")
        if weights != nil { return Tensor.scalar(0.5 * weighted, dtype: dtype).item }
        let n = Double(max(rows, 1))
        return Tensor.scalar(0.5 * squares.total / n, dtype: dtype).item
    }
}
