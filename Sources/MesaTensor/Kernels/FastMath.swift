import RealModule

// Branch-free exp and tanh for Float32 that the compiler vectorizes (the C library's are
// scalar calls): softmax attention evaluates ~1.3 M exponentials per layer and batch, and
// the GELU of an MLP layer ~2 M tanh. Double keeps the C library's functions, so the
// finite-difference checks, which run in Double, see the exact functions. Accuracy of the
// Float32 versions against Double is tested (Tests/MesaTensorTests/FastMathTests.swift).

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

/// e^x: `fastExp` for Float, the C library's for Double.
@inlinable @inline(__always)
public func tensorExp<S: TensorScalar>(_ x: S) -> S {
    if S.self == Float.self { return unsafeBitCast(fastExp(unsafeBitCast(x, to: Float.self)), to: S.self) }
    return S.exp(x)
}

/// tanh: `fastTanh` for Float, the C library's for Double.
@inlinable @inline(__always)
public func tensorTanh<S: TensorScalar>(_ x: S) -> S {
    if S.self == Float.self { return unsafeBitCast(fastTanh(unsafeBitCast(x, to: Float.self)), to: S.self) }
    return S.tanh(x)
}
