import RealModule

// Branch-free exp and tanh that the compiler vectorizes (the C library's are scalar calls):
// softmax attention evaluates ~1.3 M exponentials per layer and batch, and the GELU of an MLP
// layer ~2 M tanh. The Float32 versions are accurate to a few Float ulp; the Double versions
// to a few Double ulp (≤ 1e-15 relative), so Double analyses and the finite-difference checks
// still see exp and tanh to rounding — profiles of the Double forward and of the sensitivity
// analysis's backward had spent a quarter of their time in the C library's tanh/expm1.
// Accuracy against the C library is tested (Tests/MesaTensorTests/FastMathTests.swift).

/// e^x for Float32: Cody–Waite range reduction x = n ln 2 + r, |r| ≤ ln2/2, a degree-6
/// polynomial for e^r, and 2ⁿ assembled in the exponent bits. Relative error ≲ 2e-7 on
/// [−87, 88]; 0 below, +∞ above.
@inlinable @inline(__always)
public func fastExp(_ x: Float) -> Float {
    let clamped = min(max(x, -87.33654), 88.72283)
    let n = (clamped * 1.442695041).rounded(.toNearestOrEven)
    var r = clamped - n * 0.693359375       // ln 2, high part (exact in Float)
    r = r - n * -2.12194440e-4              // ln 2, low part
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = (p * r * r + r) + 1
    let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
    let y = er * scale
    return x < -87.33654 ? 0 : (x > 88.72283 ? .infinity : y)
}

/// tanh for Float32: the odd rational approximation p(x)/q(x) of degree 13/6 used by Eigen,
/// on x clamped to ±7.9053 (where tanh rounds to ±1). Error within a few ulp.
@inlinable @inline(__always)
public func fastTanh(_ x: Float) -> Float {
    let c = min(max(x, -7.90531110763549805), 7.90531110763549805)
    let x2 = c * c
    var p: Float = -2.76076847742355e-16
    p = p * x2 + 2.00018790482477e-13
    p = p * x2 - 8.60467152213735e-11
    p = p * x2 + 5.12229709037114e-08
    p = p * x2 + 1.48572235717979e-05
    p = p * x2 + 6.37261928875436e-04
    p = p * x2 + 4.89352455891786e-03
    p = p * c
    var q: Float = 1.19825839466702e-06
    q = q * x2 + 1.18534705686654e-04
    q = q * x2 + 2.26843463243900e-03
    q = q * x2 + 4.89352518554385e-03
    return p / q
}

/// k = round(y) for |y| < 2³¹ and its Double value, without a trapping conversion (NaN gives
/// garbage k and a NaN result downstream, as the C library's functions would give NaN): adding
/// 1.5·2⁵² rounds y to an integer held in the low mantissa bits.
@inlinable @inline(__always)
func roundedForScaling(_ y: Double) -> (k: Int64, value: Double) {
    let magic = 6755399441055744.0  // 1.5 · 2⁵²
    let shifted = y + magic
    return (Int64(Int32(truncatingIfNeeded: shifted.bitPattern)), shifted - magic)
}

/// 2^k for k in [−1022, 1023], assembled in the exponent bits.
@inlinable @inline(__always)
func powerOfTwo(_ k: Int64) -> Double { Double(bitPattern: UInt64(bitPattern: k &+ 1023) << 52) }

/// r − k·ln 2 with ln 2 in two parts (fdlibm's: the high part's low 21 bits are 0, so k·ln2Hi is
/// exact for |k| < 2²¹).
@inlinable @inline(__always)
func reduceByLn2(_ y: Double, _ k: Double) -> Double {
    (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10
}

/// e^x for Double: x = k ln 2 + r, |r| ≤ ln 2 / 2, e^r by its Taylor series to r¹³ (truncation
/// < 2e-17 relative), 2^k as two exact powers of two (so that k reaches the subnormal range).
/// Within a few ulp of the C library's exp; 0 below −745.2, +∞ above 709.78.
@inlinable @inline(__always)
public func fastExp(_ x: Double) -> Double {
    let clamped = Swift.min(Swift.max(x, -745.2), 709.78)
    let (k, kd) = roundedForScaling(clamped * 1.4426950408889634)
    let r = reduceByLn2(clamped, kd)
    var p = 1.0 / 6227020800       // 1/13!
    p = p * r + 1.0 / 479001600    // 1/12!
    p = p * r + 1.0 / 39916800
    p = p * r + 1.0 / 3628800
    p = p * r + 1.0 / 362880
    p = p * r + 1.0 / 40320
    p = p * r + 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    let er = 1 + (r + r * r * p)
    let k1 = k >> 1
    let y = er * powerOfTwo(k1) * powerOfTwo(k - k1)
    return x < -745.2 ? 0 : (x > 709.78 ? .infinity : y)
}

/// tanh for Double: tanh|x| = m / (m + 2) with m = e^{2|x|} − 1 computed without cancellation
/// (2|x| = k ln 2 + r: m = 2^k (e^r − 1) + (2^k − 1), e^r − 1 by its Taylor series to r¹⁴);
/// |x| ≥ 22 gives ±1, as tanh rounds there. Within a few ulp of the C library's tanh.
@inlinable @inline(__always)
public func fastTanh(_ x: Double) -> Double {
    let y = Swift.min(2 * abs(x), 44)
    let (k, kd) = roundedForScaling(y * 1.4426950408889634)
    let r = reduceByLn2(y, kd)
    var p = 1.0 / 87178291200      // 1/14!
    p = p * r + 1.0 / 6227020800
    p = p * r + 1.0 / 479001600
    p = p * r + 1.0 / 39916800
    p = p * r + 1.0 / 3628800
    p = p * r + 1.0 / 362880
    p = p * r + 1.0 / 40320
    p = p * r + 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    let q = r + r * r * p            // e^r − 1
    let scale = powerOfTwo(k)
    let m = scale * q + (scale - 1)  // e^y − 1
    let t = m / (m + 2)
    return x < 0 ? -t : t
}

/// e^x: `fastExp` (Float or Double).
@inlinable @inline(__always)
public func tensorExp<S: TensorScalar>(_ x: S) -> S {
    if S.self == Float.self { return unsafeBitCast(fastExp(unsafeBitCast(x, to: Float.self)), to: S.self) }
    if S.self == Double.self { return unsafeBitCast(fastExp(unsafeBitCast(x, to: Double.self)), to: S.self) }
    return S.exp(x)
}

/// tanh: `fastTanh` (Float or Double).
@inlinable @inline(__always)
public func tensorTanh<S: TensorScalar>(_ x: S) -> S {
    if S.self == Float.self { return unsafeBitCast(fastTanh(unsafeBitCast(x, to: Float.self)), to: S.self) }
    if S.self == Double.self { return unsafeBitCast(fastTanh(unsafeBitCast(x, to: Double.self)), to: S.self) }
    return S.tanh(x)
}
