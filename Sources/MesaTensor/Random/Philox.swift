import RealModule

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator. Output block n of a stream is a pure function of
/// (key, counter), so any sequence of any batch at any step can be generated directly,
/// in any order, on any thread: the batch at training step k depends on (seed, k) only.
@inlinable
public func philox4x32(_ counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
    var c = counter
    var k = key
    for _ in 0..<10 {
        let p0 = UInt64(0xD251_1F53) &* UInt64(c[0])
        let p1 = UInt64(0xCD9E_8D57) &* UInt64(c[2])
        c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                  UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
        k &+= SIMD2(0x9E37_79B9, 0xBB67_AE85)
    }
    return c
}

/// What a stream of random numbers is for; part of its counter, so streams for different
/// purposes never overlap.
public struct RandomPurpose: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let parameterInit = RandomPurpose(rawValue: 1)
    public static let trainingBatch = RandomPurpose(rawValue: 2)
    /// The fixed held-out batch every evaluation and figure uses.
    public static let testBatch = RandomPurpose(rawValue: 3)
    /// A second held-out batch on which baselines' step sizes are line-searched.
    public static let validationBatch = RandomPurpose(rawValue: 4)
    public static let experiment = RandomPurpose(rawValue: 5)
}

/// A stream of random numbers keyed by (seed, purpose, step, index):
/// counter = (block, index, step, purpose), key = seed.
public struct RandomStream {
    @usableFromInline let key: SIMD2<UInt32>
    @usableFromInline var counter: SIMD4<UInt32>
    @usableFromInline var buffer = SIMD4<UInt32>()
    @usableFromInline var used = 4
    @usableFromInline var spareNormal: Double?

    public init(seed: UInt64, purpose: RandomPurpose, step: Int = 0, index: Int = 0) {
        precondition(step >= 0 && step <= Int(UInt32.max) && index >= 0 && index <= Int(UInt32.max),
                     "random stream step \(step) / index \(index) out of range")
        key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        counter = SIMD4(0, UInt32(index), UInt32(step), purpose.rawValue)
    }

    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        if used == 4 {
            buffer = philox4x32(counter, key: key)
            counter[0] &+= 1
            used = 0
        }
        defer { used += 1 }
        return buffer[used]
    }

    @inlinable
    public mutating func nextUInt64() -> UInt64 {
        UInt64(nextUInt32()) << 32 | UInt64(nextUInt32())
    }

    /// Uniform on [0, 1) with 53 random bits.
    @inlinable
    public mutating func uniform() -> Double {
        Double(nextUInt64() >> 11) * 0x1.0p-53
    }

    /// Uniform on [a, b).
    @inlinable
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    @inlinable
    public mutating func normal() -> Double {
        if let z = spareNormal { spareNormal = nil; return z }
        var u1 = uniform()
        while u1 == 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * _log(u1)).squareRoot()
        spareNormal = r * _sin(2 * Double.pi * u2)
        return r * _cos(2 * Double.pi * u2)
    }

    /// Uniform integer in 0..<n (Lemire's multiply-shift with rejection: unbiased).
    @inlinable
    public mutating func integer(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        while true {
            let x = nextUInt64()
            let m = x.multipliedFullWidth(by: bound)
            if m.low >= (0 &- bound) % bound { return Int(m.high) }
        }
    }

    /// +1 or −1 with equal probability.
    @inlinable
    public mutating func sign() -> Double { nextUInt32() & 1 == 0 ? 1 : -1 }
}

@usableFromInline func _log(_ x: Double) -> Double { Double.log(x) }
@usableFromInline func _sin(_ x: Double) -> Double { Double.sin(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Double.cos(x) }
