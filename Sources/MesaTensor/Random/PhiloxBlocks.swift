import RealModule

/// Philox4x32-10 for eight consecutive blocks at once, lane-parallel: block `first + l` of
/// the stream (index, step, purpose, key) lands in `out[4l ..< 4l + 4]`. Each lane computes
/// exactly `philox4x32` (the 32-bit products are taken in 64-bit lanes, which the vector
/// units multiply directly), so the words are those of `RandomStream`, only faster. Through
/// data512.c's AVX-512 lanes where `LaneKernels.enabled` (the same words).
@inlinable
public func philox4x32x8(first: UInt32, counter: SIMD4<UInt32>, key: SIMD2<UInt32>,
                         into out: UnsafeMutablePointer<UInt32>) {
    if LaneKernels.enabled {
        LaneKernels.philoxWords(first: first, counter: counter, key: key, into: out)
    } else {
        philox4x32x8Portable(first: first, counter: counter, key: key, into: out)
    }
}

/// `philox4x32x8` in Swift SIMD8 lanes (what runs without the AVX-512 lane kernels).
@inlinable
public func philox4x32x8Portable(first: UInt32, counter: SIMD4<UInt32>, key: SIMD2<UInt32>,
                                 into out: UnsafeMutablePointer<UInt32>) {
    let (x0, x1, x2, x3) = philox4x32x8Lanes(first: first, counter: counter, key: key)
    for l in 0..<8 {
        out[4 * l] = UInt32(truncatingIfNeeded: x0[l])
        out[4 * l + 1] = UInt32(truncatingIfNeeded: x1[l])
        out[4 * l + 2] = UInt32(truncatingIfNeeded: x2[l])
        out[4 * l + 3] = UInt32(truncatingIfNeeded: x3[l])
    }
}

/// `philox4x32x8` with the result left in registers: word w of block `first + l` is lane l of
/// the w-th vector (each below 2³²).
@inlinable
public func philox4x32x8Lanes(first: UInt32, counter: SIMD4<UInt32>, key: SIMD2<UInt32>)
    -> (SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>) {
    let low = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
    var x0 = (SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7) &+ UInt64(first)) & low
    var x1 = SIMD8<UInt64>(repeating: UInt64(counter[1]))
    var x2 = SIMD8<UInt64>(repeating: UInt64(counter[2]))
    var x3 = SIMD8<UInt64>(repeating: UInt64(counter[3]))
    var k0 = UInt64(key[0]), k1 = UInt64(key[1])
    let m0 = SIMD8<UInt64>(repeating: 0xD251_1F53), m1 = SIMD8<UInt64>(repeating: 0xCD9E_8D57)
    for _ in 0..<10 {
        let p0 = m0 &* x0, p1 = m1 &* x2
        x0 = (p1 &>> 32) ^ x1 ^ SIMD8(repeating: k0)
        x1 = p1 & low
        x2 = (p0 &>> 32) ^ x3 ^ SIMD8(repeating: k1)
        x3 = p0 & low
        k0 = (k0 &+ 0x9E37_79B9) & 0xFFFF_FFFF
        k1 = (k1 &+ 0xBB67_AE85) & 0xFFFF_FFFF
    }
    return (x0, x1, x2, x3)
}

/// The numbers of a `RandomStream` (same stream, same values, same order: `uniform`,
/// `uniform(a, b)`, `normal`), generated eight Philox blocks at a time into a buffer the
/// caller owns (`PhiloxBlockStream.bufferWords` UInt32s), and `normals(_:into:scratch:)` for
/// many at once. For bulk generation (training batches); the equality with `RandomStream` is
/// tested number by number.
public struct PhiloxBlockStream {
    public static let bufferWords = 32
    @usableFromInline let key: SIMD2<UInt32>
    @usableFromInline let counter: SIMD4<UInt32>
    @usableFromInline let words: UnsafeMutablePointer<UInt32>
    @usableFromInline var nextBlock: UInt32 = 0
    @usableFromInline var used = PhiloxBlockStream.bufferWords
    @usableFromInline var spareNormal = 0.0
    @usableFromInline var hasSpare = false

    /// The stream `RandomStream(seed:purpose:step:index:)`, buffered in `buffer`.
    public init(seed: UInt64, purpose: RandomPurpose, step: Int = 0, index: Int = 0,
                buffer: UnsafeMutablePointer<UInt32>) {
        precondition(step >= 0 && step <= Int(UInt32.max) && index >= 0 && index <= Int(UInt32.max),
                     "random stream step \(step) / index \(index) out of range")
        key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        counter = SIMD4(0, UInt32(index), UInt32(step), purpose.rawValue)
        words = buffer
    }

    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        if used == Self.bufferWords {
            philox4x32x8(first: nextBlock, counter: counter, key: key, into: words)
            nextBlock &+= 8
            used = 0
        }
        defer { used += 1 }
        return words[used]
    }

    @inlinable
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(nextUInt32())
        return high << 32 | UInt64(nextUInt32())
    }

    /// Uniform on [0, 1) with 53 random bits (as `RandomStream.uniform()`).
    @inlinable
    public mutating func uniform() -> Double { Double(nextUInt64() >> 11) * 0x1.0p-53 }

    /// Uniform on [a, b) (as `RandomStream.uniform(_:_:)`).
    @inlinable
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// Standard normal, Box–Muller, the second value of each pair kept (as `RandomStream.normal()`).
    @inlinable
    public mutating func normal() -> Double {
        if hasSpare { hasSpare = false; return spareNormal }
        var u1 = uniform()
        while u1 == 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * _log(u1)).squareRoot()
        spareNormal = r * _sin(2 * Double.pi * u2)
        hasSpare = true
        return r * _cos(2 * Double.pi * u2)
    }

    /// The next `count` values of `normal()`, into `out`, computed in passes (the uniforms of
    /// every pair, then the radii, then cosines and sines) so that the C library calls of
    /// neighbouring pairs overlap. `scratch` holds count + 1 Doubles.
    @inlinable
    public mutating func normals(_ count: Int, into out: UnsafeMutablePointer<Double>,
                                 scratch: UnsafeMutablePointer<Double>) {
        guard count > 0 else { return }
        var i = 0
        if hasSpare { out[0] = spareNormal; hasSpare = false; i = 1 }
        let pairs = (count - i + 1) / 2
        let radius = scratch, angle = scratch + pairs
        for p in 0..<pairs {
            var u1 = uniform()
            while u1 == 0 { u1 = uniform() }
            radius[p] = u1
            angle[p] = 2 * Double.pi * uniform()
        }
        for p in 0..<pairs { radius[p] = (-2 * _log(radius[p])).squareRoot() }
        for p in 0..<pairs {
            out[i] = radius[p] * _cos(angle[p])
            i += 1
            let second = radius[p] * _sin(angle[p])
            if i < count { out[i] = second; i += 1 } else { spareNormal = second; hasSpare = true }
        }
    }
}
