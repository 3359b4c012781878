import Testing
import MesaTensor

@Suite struct LinalgTests {
    @Test func qrReconstructsAndIsOrthogonal() {
        var s = RandomStream(seed: 3, purpose: .experiment)
        let n = 7
        let a = (0..<(n * n)).map { _ in s.normal() }
        let (q, r) = Linalg.qr(a, n)
        let qr = Linalg.matmul(q, r, n, n, n)
        #expect(zip(qr, a).allSatisfy { abs($0 - $1) < 1e-12 })
        let qtq = Linalg.matmul(Linalg.transpose(q, n, n), q, n, n, n)
        #expect(zip(qtq, Linalg.identity(n)).allSatisfy { abs($0 - $1) < 1e-12 })
        for i in 0..<n {
            #expect(r[i * n + i] >= 0)
            for j in 0..<i { #expect(r[i * n + j] == 0 || abs(r[i * n + j]) < 1e-12) }
        }
    }

    /// Haar measure: E[Q_11²] = 1/n and E[tr Q] = 0 (tr Q ~ N(0,1) for large n).
    @Test func haarOrthogonalMoments() {
        var s = RandomStream(seed: 4, purpose: .experiment)
        let n = 10, samples = 4000
        var q11 = 0.0, trace = 0.0
        for _ in 0..<samples {
            let q = Linalg.haarOrthogonal(n, stream: &s)
            q11 += q[0] * q[0]
            trace += (0..<n).map { q[$0 * n + $0] }.reduce(0, +)
        }
        #expect(abs(q11 / Double(samples) - 0.1) < 0.01)
        #expect(abs(trace / Double(samples)) < 0.06)
    }

    @Test func solvers() {
        var s = RandomStream(seed: 5, purpose: .experiment)
        let n = 6, m = 3
        let g = (0..<(n * n)).map { _ in s.normal() }
        var spd = Linalg.matmul(g, Linalg.transpose(g, n, n), n, n, n)
        for i in 0..<n { spd[i * n + i] += 0.5 }
        let b = (0..<(n * m)).map { _ in s.normal() }
        let x1 = Linalg.choleskySolve(spd, b, n, m)!
        #expect(zip(Linalg.matmul(spd, x1, n, n, m), b).allSatisfy { abs($0 - $1) < 1e-10 })
        let x2 = Linalg.solve(g, b, n, m)!
        #expect(zip(Linalg.matmul(g, x2, n, n, m), b).allSatisfy { abs($0 - $1) < 1e-10 })
        #expect(Linalg.choleskySolve([1, 2, 2, 1], [1, 1], 2, 1) == nil)  // indefinite
        #expect(Linalg.solve([1, 2, 2, 4], [1, 1], 2, 1) == nil)  // singular
    }
}
