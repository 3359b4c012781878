import CSupport
import Foundation

/// The AVX-512 lane kernels of data generation (CSupport's data512.c: the LDS batch eight
/// sequences at a time, `VectorNormals.normals`), bit for bit their Swift definitions.
public enum LaneKernels {
    /// The CPU runs them (AVX-512 F/BW/DQ/VL).
    public static var available: Bool { KernelChoice.cpuHasAVX512 }
    /// They run: available and not switched off by MESA_KERNELS=portable (`KernelChoice`).
    public static var enabled: Bool { KernelChoice.avx512 }

    /// `philox4x32x8` through data512.c (call only where `available`).
    @usableFromInline
    static func philoxWords(first: UInt32, counter: SIMD4<UInt32>, key: SIMD2<UInt32>,
                            into out: UnsafeMutablePointer<UInt32>) {
        withUnsafePointer(to: counter) { c in
            withUnsafePointer(to: key) { k in
                mesa512_philox_words(first, UnsafeRawPointer(c).assumingMemoryBound(to: UInt32.self),
                                     UnsafeRawPointer(k).assumingMemoryBound(to: UInt32.self), out)
            }
        }
    }
}

/// Which normal sampler a task's random streams use: part of the stream's definition, so it
/// is recorded in a run's configuration (`task.normals`) and a resume may not change it.
///
/// - `boxMuller` (stream version 1: what a run's configuration without `task.normals` means, so
///   every run written before the presets switched to `vectorized`; the only stream of task kinds
///   other than lds and lds-fixed; `LinearDynamicalSystem`'s default): `RandomStream.normal()`,
///   Box–Muller through the C library's log, sin and cos, one pair from two 53-bit uniforms
///   drawn word by word, the second value kept for the next call.
/// - `vectorized` (stream version 2, what the presets of kinds lds and lds-fixed write): one
///   Box–Muller pair per Philox block, computed by
///   `VectorNormals` from polynomials of its own (no C library call), eight blocks at a time in
///   vector lanes. Its bytes are the same on every machine and for any number of threads:
///   every operation is an IEEE add, multiply, divide or square root (Swift does not contract
///   them into FMAs) or an exact bit operation. The same law as `boxMuller`; for task 1 at even n
///   even the same uniforms, so the normals differ only by the rounding of log, sin and cos.
public enum NormalSampler: String, Codable, Sendable, CaseIterable {
    case boxMuller = "box-muller"
    case vectorized = "vectorized"
}

/// The "vectorized" normal sampler (`NormalSampler.vectorized`): a pair of standard normals
/// from each Philox block (w₀, w₁, w₂, w₃):
///
///     a = (w₀ w₁) >> 11,  b = (w₂ w₃) >> 11            (53-bit integers)
///     u₁ = max(a, ½) / 2⁵³  ∈ (0, 1),   u₂ = b / 2⁵³ ∈ [0, 1)
///     r = √(−2 ln u₁),   (z₀, z₁) = (r cos 2πu₂, r sin 2πu₂)
///
/// u₁ and u₂ are the two `uniform()`s that `RandomStream.normal()` draws from a block, except
/// that u₁ = 0 (probability 2⁻⁵³) becomes 2⁻⁵⁴ instead of being drawn again, so the block of
/// pair k is block k. Where the default stream's pairs are block-aligned too (a count of
/// normals that starts at a block boundary, as task 1's at even n), the two samplers differ
/// only by the rounding of log, sin and cos: within a few ulp in Double, and nearly always the
/// same Float32. ln is fdlibm's
/// (x = 2ᵏ(1 + f), √½ ≤ 1 + f < √2, s = f / (2 + f), a degree-14 odd polynomial in s), in
/// Double, within 1 ulp of the C library; cos 2πu and sin 2πu reduce the angle *in turns*, which
/// is exact (4u − round(4u) ∈ [−½, ½], a quarter turn picked by round(4u) mod 4), then fdlibm's
/// sin and cos kernels on [−π/4, π/4]. Double rather than Float32: a Float32 log would put the
/// radius's relative error near 10⁻⁷, coarsen the tail (u₁ ≥ 2⁻²⁴ caps |z| at 5.8) and lose
/// the closeness to the default stream; in Double the tail reaches |z| = 8.65 and the vector
/// cost is the same number of instructions at half the lanes.
///
/// `log`, `sinCosTurns` and `pair` are the scalar definitions; the SIMD8 versions do the same
/// operations lane by lane (tested bit for bit).
public enum VectorNormals {
    // fdlibm e_log.c
    @usableFromInline static let ln2Hi = 6.93147180369123816490e-01
    @usableFromInline static let ln2Lo = 1.90821492927058770002e-10
    @usableFromInline static let lg1 = 6.666666666666735130e-01
    @usableFromInline static let lg2 = 3.999999999940941908e-01
    @usableFromInline static let lg3 = 2.857142874366239149e-01
    @usableFromInline static let lg4 = 2.222219843214978396e-01
    @usableFromInline static let lg5 = 1.818357216161805012e-01
    @usableFromInline static let lg6 = 1.531383769920937332e-01
    @usableFromInline static let lg7 = 1.479819860511658591e-01
    @usableFromInline static let sqrt2 = 1.4142135623730951
    // fdlibm k_sin.c, k_cos.c: minimax on [−π/4, π/4]
    @usableFromInline static let s1 = -1.66666666666666324348e-01
    @usableFromInline static let s2 = 8.33333333332248946124e-03
    @usableFromInline static let s3 = -1.98412698298579493134e-04
    @usableFromInline static let s4 = 2.75573137070700676789e-06
    @usableFromInline static let s5 = -2.50507602534068634195e-08
    @usableFromInline static let s6 = 1.58969099521155010221e-10
    @usableFromInline static let c1 = 4.16666666666666019037e-02
    @usableFromInline static let c2 = -1.38888888888741095749e-03
    @usableFromInline static let c3 = 2.48015872894767294178e-05
    @usableFromInline static let c4 = -2.75573143513906633035e-07
    @usableFromInline static let c5 = 2.08757232129817482790e-09
    @usableFromInline static let c6 = -1.13596475577881948265e-11
    @usableFromInline static let halfPi = 1.5707963267948966
    /// 1.5 · 2⁵²: adding it rounds a value in [0, 2⁵¹) to the nearest integer (ties to even).
    @usableFromInline static let roundingShift = 0x1.8p52

    // MARK: scalar definitions

    /// ln x for a positive, finite, normal x.
    @inlinable
    public static func log(_ x: Double) -> Double {
        let bits = x.bitPattern
        var m = Double(bitPattern: bits & 0x000F_FFFF_FFFF_FFFF | 0x3FF0_0000_0000_0000)  // [1, 2)
        var k = Double(Int(bits >> 52) - 1023)
        if m > sqrt2 { m = m * 0.5; k = k + 1 }
        let f = m - 1
        let s = f / (2 + f)
        let z = s * s, w = z * z
        let r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6))
        let hfsq = 0.5 * f * f
        return k * ln2Hi - ((hfsq - (s * (hfsq + r) + k * ln2Lo)) - f)
    }

    /// sin x for |x| ≤ π/4.
    @inlinable
    public static func sinKernel(_ x: Double) -> Double {
        let z = x * x, v = z * x
        let r = s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))
        return x + v * (s1 + z * r)
    }

    /// cos x for |x| ≤ π/4.
    @inlinable
    public static func cosKernel(_ x: Double) -> Double {
        let z = x * x
        let r = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))))
        let hz = 0.5 * z, w = 1 - hz
        return w + (((1 - w) - hz) + z * r)
    }

    /// (sin 2πu, cos 2πu) for 0 ≤ u < 2⁴⁹: u = q/4 + f/4 with q = round(4u) (exact), the
    /// kernels at x = f · π/2, and the quarter turn q mod 4 applied by swapping and negating.
    @inlinable
    public static func sinCosTurns(_ u: Double) -> (sin: Double, cos: Double) {
        let t = 4 * u
        let shifted = t + roundingShift
        let q = Int(shifted.bitPattern & 3)
        let x = (t - (shifted - roundingShift)) * halfPi
        let s = sinKernel(x), c = cosKernel(x)
        var sine = q & 1 == 0 ? s : c
        var cosine = q & 1 == 0 ? c : s
        if q & 2 != 0 { sine = -sine }            // quarter turns 2, 3
        if (q + 1) & 2 != 0 { cosine = -cosine }  // quarter turns 1, 2
        return (sine, cosine)
    }

    /// The two normals of one Philox block (the definition of the stream).
    @inlinable
    public static func pair(_ block: SIMD4<UInt32>) -> (Double, Double) {
        let a = (UInt64(block[0]) << 32 | UInt64(block[1])) >> 11
        let b = (UInt64(block[2]) << 32 | UInt64(block[3])) >> 11
        let u1 = max(Double(a), 0.5) * 0x1p-53
        let u2 = Double(b) * 0x1p-53
        let r = (-2 * log(u1)).squareRoot()
        let (s, c) = sinCosTurns(u2)
        return (r * c, r * s)
    }

    // MARK: eight lanes at once

    @inlinable
    static func bits(_ x: SIMD8<Double>) -> SIMD8<UInt64> { unsafeBitCast(x, to: SIMD8<UInt64>.self) }
    @inlinable
    static func double(_ x: SIMD8<UInt64>) -> SIMD8<Double> { unsafeBitCast(x, to: SIMD8<Double>.self) }
    /// An integer below 2⁵² as a Double, exactly (2⁵² + x built in the bits, minus 2⁵²).
    @inlinable
    static func exactDouble(_ x: SIMD8<UInt64>) -> SIMD8<Double> {
        double(x | 0x4330_0000_0000_0000) - 0x1p52
    }

    /// An integer below 2⁵³ as a Double, exactly: twice its upper 52 bits plus its last.
    @inlinable
    static func exactDouble53(_ x: SIMD8<UInt64>) -> SIMD8<Double> {
        exactDouble(x &>> 1) * 2 + exactDouble(x & 1)
    }

    /// `log` in each lane.
    @inlinable
    public static func log(_ x: SIMD8<Double>) -> SIMD8<Double> {
        typealias V = SIMD8<Double>
        let b = bits(x)
        var m: V = double(b & 0x000F_FFFF_FFFF_FFFF | 0x3FF0_0000_0000_0000)
        var k: V = exactDouble(b &>> 52) - 1023
        let big = m .> sqrt2
        m.replace(with: m * 0.5, where: big)
        k.replace(with: k + 1, where: big)
        let f: V = m - 1
        let s: V = f / (f + 2)
        let z: V = s * s
        let w: V = z * z
        // r = z (lg1 + w (lg3 + w (lg5 + w lg7))) + w (lg2 + w (lg4 + w lg6)), in the scalar's order.
        var odd: V = w * lg7
        odd = odd + lg5; odd = w * odd
        odd = odd + lg3; odd = w * odd
        odd = odd + lg1; odd = z * odd
        var even: V = w * lg6
        even = even + lg4; even = w * even
        even = even + lg2; even = w * even
        let r: V = odd + even
        let hfsq: V = 0.5 * f * f
        var inner: V = hfsq + r
        inner = s * inner
        inner = inner + k * ln2Lo
        let outer: V = (hfsq - inner) - f
        return k * ln2Hi - outer
    }

    /// `sinCosTurns` in each lane.
    @inlinable
    public static func sinCosTurns(_ u: SIMD8<Double>) -> (sin: SIMD8<Double>, cos: SIMD8<Double>) {
        typealias V = SIMD8<Double>
        let t: V = 4 * u
        let shifted: V = t + roundingShift
        let q = bits(shifted) & 3
        let nearest: V = shifted - roundingShift
        let x: V = (t - nearest) * halfPi
        let z: V = x * x
        let v: V = z * x
        // sin: x + v (s1 + z (s2 + z (s3 + z (s4 + z (s5 + z s6)))))
        var sr: V = z * s6
        sr = sr + s5; sr = z * sr
        sr = sr + s4; sr = z * sr
        sr = sr + s3; sr = z * sr
        sr = s2 + sr; sr = z * sr
        sr = s1 + sr
        let s: V = x + v * sr
        // cos: w + (((1 − w) − hz) + z r), r = z (c1 + z (c2 + … + z c6))
        var cr: V = z * c6
        cr = cr + c5; cr = z * cr
        cr = cr + c4; cr = z * cr
        cr = cr + c3; cr = z * cr
        cr = cr + c2; cr = z * cr
        cr = c1 + cr; cr = z * cr
        let hz: V = 0.5 * z
        let w: V = 1 - hz
        let tail: V = ((1 - w) - hz) + z * cr
        let c: V = w + tail
        let odd = (q & 1) .!= 0
        var sine = s, cosine = c
        sine.replace(with: c, where: odd)
        cosine.replace(with: s, where: odd)
        // Negation flips the sign bit, exactly as the scalar `-x`.
        sine = double(bits(sine) ^ ((q & 2) &<< 62))
        cosine = double(bits(cosine) ^ (((q &+ 1) & 2) &<< 62))
        return (sine, cosine)
    }

    /// `pair` of eight blocks given as their four words in 64-bit lanes (`philox4x32x8Lanes`).
    @inlinable
    public static func pairs(_ w0: SIMD8<UInt64>, _ w1: SIMD8<UInt64>, _ w2: SIMD8<UInt64>,
                             _ w3: SIMD8<UInt64>) -> (SIMD8<Double>, SIMD8<Double>) {
        let a = (w0 &<< 32 | w1) &>> 11, b = (w2 &<< 32 | w3) &>> 11
        var ad = exactDouble53(a)
        ad.replace(with: 0.5, where: ad .< 0.5)
        let u1 = ad * 0x1p-53
        let u2 = exactDouble53(b) * 0x1p-53
        let r = (-2 * log(u1)).squareRoot()
        let (s, c) = sinCosTurns(u2)
        return (r * c, r * s)
    }

    /// The `count` normals of blocks first, first + 1, … of the stream (counter, key): block
    /// first + p gives out[2p] and out[2p + 1] (the second value of an odd count's last block
    /// is dropped).
    /// Through data512.c where `LaneKernels.enabled`, else `portableNormals`.
    public static func normals(_ count: Int, firstBlock first: UInt32, counter: SIMD4<UInt32>,
                               key: SIMD2<UInt32>, into out: UnsafeMutablePointer<Double>) {
        normals(count, firstBlock: first, counter: counter, key: key, into: out, lanes: LaneKernels.enabled)
    }

    /// `normals` with the lane kernel on or off (`lanes` is ignored where the CPU cannot run it).
    public static func normals(_ count: Int, firstBlock first: UInt32, counter: SIMD4<UInt32>,
                               key: SIMD2<UInt32>, into out: UnsafeMutablePointer<Double>, lanes: Bool) {
        if lanes && LaneKernels.available {
            withUnsafePointer(to: counter) { c in
                withUnsafePointer(to: key) { k in
                    mesa512_vector_normals(count, first, UnsafeRawPointer(c).assumingMemoryBound(to: UInt32.self),
                                           UnsafeRawPointer(k).assumingMemoryBound(to: UInt32.self), out)
                }
            }
        } else {
            portableNormals(count, firstBlock: first, counter: counter, key: key, into: out)
        }
    }

    /// The Swift SIMD8 version of `normals`.
    @inlinable
    public static func portableNormals(_ count: Int, firstBlock first: UInt32, counter: SIMD4<UInt32>,
                                       key: SIMD2<UInt32>, into out: UnsafeMutablePointer<Double>) {
        var i = 0, block = first
        while i < count {
            let (w0, w1, w2, w3) = philox4x32x8Lanes(first: block, counter: counter, key: key)
            let (z0, z1) = pairs(w0, w1, w2, w3)
            if count - i >= 16 {
                for l in 0..<8 { out[i + 2 * l] = z0[l]; out[i + 2 * l + 1] = z1[l] }
                i += 16
            } else {
                for l in 0..<8 where i < count {
                    out[i] = z0[l]; i += 1
                    if i < count { out[i] = z1[l]; i += 1 }
                }
            }
            block &+= 8
        }
    }
}

extension RandomStream {
    /// `count` normals of the "vectorized" sampler (`VectorNormals`), one pair per block from
    /// the next whole block on: the words left in a partly used block are skipped, and an odd
    /// count's last second value is dropped. The plain definition `PhiloxBlockStream` is tested
    /// against.
    public mutating func vectorizedNormals(_ count: Int) -> [Double] {
        used = 4
        var out: [Double] = []
        out.reserveCapacity(count)
        while out.count < count {
            let (z0, z1) = VectorNormals.pair(philox4x32(counter, key: key))
            counter[0] &+= 1
            out.append(z0)
            if out.count < count { out.append(z1) }
        }
        return out
    }
}

extension PhiloxBlockStream {
    /// As `RandomStream.vectorizedNormals`, into `out`, eight blocks at a time in vector lanes
    /// (through data512.c where `lanes` and the CPU allow).
    @inlinable
    public mutating func vectorizedNormals(_ count: Int, into out: UnsafeMutablePointer<Double>,
                                           lanes: Bool = LaneKernels.enabled) {
        // The next block no word has been taken from.
        let start = used == Self.bufferWords ? nextBlock : nextBlock &- 8 &+ UInt32((used + 3) / 4)
        guard count > 0 else {
            nextBlock = start
            used = Self.bufferWords
            return
        }
        VectorNormals.normals(count, firstBlock: start, counter: counter, key: key, into: out, lanes: lanes)
        nextBlock = start &+ UInt32((count + 1) / 2)
        used = Self.bufferWords
    }
}
