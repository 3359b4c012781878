import RealModule

/// Small dense linear algebra in Double on row-major `[Double]` matrices: what task
/// generation (Haar-random teachers) and the least-squares baselines need. Sizes here are
/// n ≤ ~100, so these are plain loops, written to read like the textbook.
public enum Linalg {
    /// C = A B for A [m, k], B [k, n].
    public static func matmul(_ a: [Double], _ b: [Double], _ m: Int, _ k: Int, _ n: Int) -> [Double] {
        precondition(a.count == m * k && b.count == k * n, "Linalg.matmul: sizes do not match")
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let aip = a[i * k + p]
                if aip == 0 { continue }
                for j in 0..<n { c[i * n + j] += aip * b[p * n + j] }
            }
        }
        return c
    }

    public static func transpose(_ a: [Double], _ m: Int, _ n: Int) -> [Double] {
        var t = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { t[j * m + i] = a[i * n + j] } }
        return t
    }

    public static func identity(_ n: Int, scale: Double = 1) -> [Double] {
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + i] = scale }
        return a
    }

    /// QR decomposition of a square A [n, n] by Householder reflections: A = Q R with
    /// Q orthogonal and R upper triangular with a non-negative diagonal.
    public static func qr(_ a: [Double], _ n: Int) -> (q: [Double], r: [Double]) {
        var r = a
        var q = identity(n)
        var v = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var norm = 0.0
            for i in j..<n { norm += r[i * n + j] * r[i * n + j] }
            norm = norm.squareRoot()
            if norm == 0 { continue }
            let alpha = r[j * n + j] > 0 ? -norm : norm
            for i in 0..<n { v[i] = i < j ? 0 : r[i * n + j] }
            v[j] -= alpha
            var vv = 0.0
            for i in j..<n { vv += v[i] * v[i] }
            if vv == 0 { continue }
            // R ← (I − 2vvᵀ/vᵀv) R,  Q ← Q (I − 2vvᵀ/vᵀv)
            for c in 0..<n {
                var s = 0.0
                for i in j..<n { s += v[i] * r[i * n + c] }
                s *= 2 / vv
                for i in j..<n { r[i * n + c] -= s * v[i] }
            }
            for row in 0..<n {
                var s = 0.0
                for i in j..<n { s += q[row * n + i] * v[i] }
                s *= 2 / vv
                for i in j..<n { q[row * n + i] -= s * v[i] }
            }
        }
        // Flip signs so that diag(R) ≥ 0 (makes the decomposition unique).
        for j in 0..<n where r[j * n + j] < 0 {
            for c in 0..<n { r[j * n + c] = -r[j * n + c] }
            for row in 0..<n { q[row * n + j] = -q[row * n + j] }
        }
        return (q, r)
    }

    /// A Haar-distributed (uniform) random orthogonal n×n matrix: Q of the QR decomposition
    /// of a standard Gaussian matrix with diag(R) > 0 (Mezzadri 2007).
    public static func haarOrthogonal(_ n: Int, stream: inout RandomStream) -> [Double] {
        var g = [Double](repeating: 0, count: n * n)
        for i in 0..<(n * n) { g[i] = stream.normal() }
        return qr(g, n).q
    }

    /// Solves A X = B for symmetric positive definite A [n, n] and B [n, m] by Cholesky.
    /// Returns nil when A is not (numerically) positive definite.
    public static func choleskySolve(_ a: [Double], _ b: [Double], _ n: Int, _ m: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for p in 0..<j { s -= l[i * n + p] * l[j * n + p] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var x = b
        for c in 0..<m {
            for i in 0..<n {  // L y = b
                var s = x[i * m + c]
                for p in 0..<i { s -= l[i * n + p] * x[p * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {  // Lᵀ x = y
                var s = x[i * m + c]
                for p in (i + 1)..<n { s -= l[p * n + i] * x[p * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
        }
        return x
    }

    /// Solves A X = B for a general square A [n, n] by LU with partial pivoting.
    /// Returns nil when A is singular to working precision.
    public static func solve(_ a: [Double], _ b: [Double], _ n: Int, _ m: Int) -> [Double]? {
        var lu = a
        var x = b
        for k in 0..<n {
            var p = k
            for i in (k + 1)..<n where abs(lu[i * n + k]) > abs(lu[p * n + k]) { p = i }
            guard lu[p * n + k] != 0 else { return nil }
            if p != k {
                for c in 0..<n { lu.swapAt(k * n + c, p * n + c) }
                for c in 0..<m { x.swapAt(k * m + c, p * m + c) }
            }
            for i in (k + 1)..<n {
                let f = lu[i * n + k] / lu[k * n + k]
                if f == 0 { continue }
                for c in k..<n { lu[i * n + c] -= f * lu[k * n + c] }
                for c in 0..<m { x[i * m + c] -= f * x[k * m + c] }
            }
        }
        for c in 0..<m {
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = x[i * m + c]
                for p in (i + 1)..<n { s -= lu[i * n + p] * x[p * m + c] }
                x[i * m + c] = s / lu[i * n + i]
            }
        }
        return x
    }

    /// The inverse of a square matrix (nil when singular).
    public static func inverse(_ a: [Double], _ n: Int) -> [Double]? { solve(a, identity(n), n, n) }
}
