import CSupport
import Foundation

/// Aligned, uninitialized element memory shared by tensors until one of them writes. The
/// buffer comes from the tensor buffer pool (`TensorPool`) and goes back to it when freed, so its
/// contents at creation are whatever an earlier tensor left there (or NaN under
/// `TensorPool.poison`): every creator writes each element before reading it.
public final class TensorStorage: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    public let count: Int
    public let dtype: DType

    init(count: Int, dtype: DType) {
        self.count = count
        self.dtype = dtype
        raw = mesa_buffer_pool_take(TensorPool.process, max(1, count) * dtype.size)!
    }

    deinit { mesa_buffer_pool_give(TensorPool.process, raw, max(1, count) * dtype.size) }

    @usableFromInline func copy() -> TensorStorage {
        let s = TensorStorage(count: count, dtype: dtype)
        s.raw.copyMemory(from: raw, byteCount: count * dtype.size)
        return s
    }
}

/// Fresh tensor buffers allocated so far in this process: the `TensorStorage`s (and kernel
/// scratch from `TensorPool.withScratch`) the pool could not serve from a freed buffer (pool
/// misses, each a malloc), for counting the allocations of a
/// training step (`mesa bench`, issue 14). Buffers reused from the pool are not counted.
public enum TensorAllocations {
    public static var count: Int { mesa_tensor_allocation_count() }
    public static var bytes: Int { mesa_tensor_allocated_byte_count() }
    /// Those allocated by the calling thread (unaffected by other threads' work).
    public static var countOnThisThread: Int { mesa_tensor_allocation_count_this_thread() }
}

/// A tensor buffer pool (Sources/CSupport/tensorpool.c): freed buffers kept per size (rounded up
/// to 64 bytes) and reused, at most `limitBytes` of free buffers held, least recently used sizes
/// released first. Thread safe (one lock). `TensorPool.shared` is the process's pool behind every
/// tensor (limit `MESA_TENSOR_POOL_MIB`, else 1 GiB); its misses are what `TensorAllocations`
/// counts. Other instances are for tests.
public final class TensorPool: @unchecked Sendable {
    @usableFromInline static let process = mesa_tensor_buffer_pool()!
    public static let shared = TensorPool(pool: process, owned: false)

    let pool: OpaquePointer
    let owned: Bool
    init(pool: OpaquePointer, owned: Bool) { self.pool = pool; self.owned = owned }
    /// A separate pool holding at most `limitBytes` of free buffers.
    public convenience init(limitBytes: Int) { self.init(pool: mesa_buffer_pool_create(limitBytes)!, owned: true) }
    deinit { if owned { mesa_buffer_pool_destroy(pool) } }

    public var limitBytes: Int {
        get { mesa_buffer_pool_limit(pool) }
        set { mesa_buffer_pool_set_limit(pool, newValue) }
    }
    /// Bytes of free buffers held now.
    public var heldBytes: Int { mesa_buffer_pool_held_bytes(pool) }
    /// Requests served from held buffers, and requests that took a fresh buffer from malloc.
    public var hits: Int { mesa_buffer_pool_hits(pool) }
    public var misses: Int { mesa_buffer_pool_misses(pool) }
    /// Size classes released so far to stay within the limits (their buffers freed): the next
    /// request of such a size is a miss whoever released it.
    public var releases: Int { mesa_buffer_pool_releases(pool) }
    /// Fill every buffer handed out with NaN first (tests: nothing reads memory it did not write).
    public func setPoison(_ on: Bool) { mesa_buffer_pool_set_poison(pool, on ? 1 : 0) }
    /// A buffer of at least `bytes` bytes, 64-byte aligned, contents undefined.
    public func take(_ bytes: Int) -> UnsafeMutableRawPointer { mesa_buffer_pool_take(pool, bytes)! }
    /// Returns a buffer from `take(bytes)` of this pool.
    public func give(_ p: UnsafeMutableRawPointer, _ bytes: Int) { mesa_buffer_pool_give(pool, p, bytes) }

    /// Kernel scratch: `count` uninitialized elements of `S` from this pool for the duration of
    /// `body` (counted like a tensor buffer when the pool has none of that size).
    public func withScratch<S, R>(_: S.Type, count: Int, _ body: (UnsafeMutablePointer<S>) throws -> R) rethrows -> R {
        let bytes = max(1, count) * MemoryLayout<S>.stride
        let raw = take(bytes)
        defer { give(raw, bytes) }
        return try body(raw.bindMemory(to: S.self, capacity: max(1, count)))
    }
}

/// A dense, row-major n-dimensional array of `Float` or `Double` with value semantics
/// (copy on write). Shapes are written `[B, T, D]` in comments and doc strings.
public struct Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public var dtype: DType { storage.dtype }
    public var count: Int { storage.count }
    @usableFromInline var storage: TensorStorage

    /// A tensor whose elements are not yet written; the caller fills every one.
    public init(uninitializedShape shape: [Int], dtype: DType) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *), dtype: dtype)
    }

    public init(zeros shape: [Int], dtype: DType) {
        self.init(uninitializedShape: shape, dtype: dtype)
        storage.raw.initializeMemory(as: UInt8.self, repeating: 0, count: count * dtype.size)
    }

    public init(shape: [Int], repeating value: Double, dtype: DType) {
        self.init(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: storage.raw.initializeMemory(as: Float.self, repeating: Float(value), count: count)
        case .float64: storage.raw.initializeMemory(as: Double.self, repeating: value, count: count)
        }
    }

    /// A tensor of the given shape holding `values` (converted to `dtype`).
    @inlinable
    public init<S: TensorScalar>(shape: [Int], _ values: [S], dtype: DType = S.dtype) {
        precondition(shape.reduce(1, *) == values.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(values.count)")
        self.init(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32:
            let p = storage.raw.assumingMemoryBound(to: Float.self)
            for i in 0..<values.count { p[i] = Float(values[i]) }
        case .float64:
            let p = storage.raw.assumingMemoryBound(to: Double.self)
            for i in 0..<values.count { p[i] = Double(values[i]) }
        }
    }

    /// Creates a tensor of element type `S` and lets `body` write every element.
    @inlinable
    public init<S: TensorScalar>(shape: [Int], of _: S.Type,
                                 initializingWith body: (UnsafeMutableBufferPointer<S>) throws -> Void) rethrows {
        self.init(uninitializedShape: shape, dtype: S.dtype)
        try body(UnsafeMutableBufferPointer(start: storage.raw.assumingMemoryBound(to: S.self), count: count))
    }

    public static func scalar(_ value: Double, dtype: DType) -> Tensor {
        Tensor(shape: [], repeating: value, dtype: dtype)
    }

    // MARK: element access

    @inlinable
    public func withUnsafeBufferPointer<S: TensorScalar, R>(
        as _: S.Type, _ body: (UnsafeBufferPointer<S>) throws -> R) rethrows -> R {
        precondition(S.dtype == dtype, "tensor holds \(dtype), accessed as \(S.dtype)")
        return try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.raw.assumingMemoryBound(to: S.self), count: count))
        }
    }

    @inlinable
    public mutating func withUnsafeMutableBufferPointer<S: TensorScalar, R>(
        as _: S.Type, _ body: (UnsafeMutableBufferPointer<S>) throws -> R) rethrows -> R {
        precondition(S.dtype == dtype, "tensor holds \(dtype), accessed as \(S.dtype)")
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try withExtendedLifetime(storage) {
            try body(UnsafeMutableBufferPointer(start: storage.raw.assumingMemoryBound(to: S.self),
                                                count: count))
        }
    }

    /// The address of the elements, for kernels that hold several operands in one struct of
    /// buffers instead of nesting `withUnsafe…` closures. Valid while this tensor (or a copy
    /// sharing its storage) is alive — keep it in the same struct and use
    /// `withExtendedLifetime`; write only through tensors you created and have not copied.
    @inlinable
    public func unsafeElements<S: TensorScalar>(as _: S.Type) -> UnsafeMutablePointer<S> {
        precondition(S.dtype == dtype, "tensor holds \(dtype), accessed as \(S.dtype)")
        return storage.raw.assumingMemoryBound(to: S.self)
    }

    /// The elements, converted to `S`.
    @inlinable
    public func scalars<S: TensorScalar>(as _: S.Type = S.self) -> [S] {
        switch dtype {
        case .float32: return withUnsafeBufferPointer(as: Float.self) { $0.map { S($0) } }
        case .float64: return withUnsafeBufferPointer(as: Double.self) { $0.map { S($0) } }
        }
    }

    /// The elements as `Double` (for analysis, printing and tests).
    @inlinable
    public var doubles: [Double] { scalars(as: Double.self) }

    /// The single element of a tensor with one element.
    public var item: Double {
        precondition(count == 1, "item of a tensor with \(count) elements (shape \(shape))")
        return doubles[0]
    }

    /// The element at a multi-index, as Double.
    public subscript(_ index: Int...) -> Double {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        switch dtype {
        case .float32: return Double(storage.raw.assumingMemoryBound(to: Float.self)[flat])
        case .float64: return storage.raw.assumingMemoryBound(to: Double.self)[flat]
        }
    }

    // MARK: shape

    /// The same elements under another shape with as many elements (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(rest > 0 && count % rest == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / rest
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        var t = self
        t.shape = s
        return t
    }

    /// True when both tensors view the same memory (no copy has been made between them).
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// A copy with elements of type `dtype` (no copy when it already is).
    public func converted(to newType: DType) -> Tensor {
        if newType == dtype { return self }
        switch newType {
        case .float32: return Tensor(shape: shape, scalars(as: Float.self))
        case .float64: return Tensor(shape: shape, scalars(as: Double.self))
        }
    }

    /// Size of the last dimension and the product of the others: the matrix view
    /// `[rows, cols]` every row-wise kernel works on.
    public var matrixShape: (rows: Int, cols: Int) {
        guard let last = shape.last else { return (1, 1) }
        return (last == 0 ? 0 : count / last, last)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let v = doubles
        let shown = v.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(dtype), shape: \(shape), [\(shown)\(v.count > 8 ? ", …" : "")])"
    }
}

extension Tensor {
    /// True when both have the same shape and every element differs by at most
    /// `atol + rtol * |other|`.
    public func isClose(to other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8) -> Bool {
        guard shape == other.shape else { return false }
        for (a, b) in zip(doubles, other.doubles) where !(abs(a - b) <= atol + rtol * abs(b)) { return false }
        return true
    }

    /// max |a - b| / max(max |b|, tiny): one number for "how far apart are these".
    public func relativeError(to reference: Tensor) -> Double {
        precondition(shape == reference.shape, "shapes \(shape) and \(reference.shape) differ")
        let a = doubles, b = reference.doubles
        var num = 0.0, den = 0.0
        for i in 0..<a.count { num = max(num, abs(a[i] - b[i])); den = max(den, abs(b[i])) }
        return num / max(den, 1e-300)
    }

    /// True when every element is finite.
    public var isFinite: Bool {
        switch dtype {
        case .float32: return withUnsafeBufferPointer(as: Float.self) { $0.allSatisfy { $0.isFinite } }
        case .float64: return withUnsafeBufferPointer(as: Double.self) { $0.allSatisfy { $0.isFinite } }
        }
    }
}
