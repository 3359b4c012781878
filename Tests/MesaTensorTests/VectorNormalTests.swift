import Foundation
import Testing
import MesaTensor

/// The vectorized normal sampler (`VectorNormals`, `NormalSampler.vectorized`): its polynomials
/// against the C library, its eight-lane code against its scalar definition bit for bit, the
/// block stream against `RandomStream`, and the law of its normals.
@Suite struct VectorNormalTests {
    /// Distance in units in the last place between two finite Doubles of one sign (0 for equal).
    static func ulps(_ a: Double, _ b: Double) -> Double {
        if a == b { return 0 }
        let ia = Int64(bitPattern: a.bitPattern), ib = Int64(bitPattern: b.bitPattern)
        let ka = ia < 0 ? Int64.min &- ia : ia, kb = ib < 0 ? Int64.min &- ib : ib
        return Double((ka &- kb).magnitude)
    }

    /// Error of `approx` in ulps of the exact value `exact` (given in Float80).
    static func ulps(_ approx: Double, exact: Float80) -> Double {
        let e = Double(exact)
        let ulp = e.ulp == 0 ? Double.leastNonzeroMagnitude : e.ulp
        return Double(abs(Float80(approx) - exact) / Float80(ulp))
    }

    /// Dense sweep of [2⁻⁵³, 1) (the radius's domain) and of all normal exponents, plus the edges.
    static func logArguments() -> [Double] {
        var xs: [Double] = [0x1p-53, 1 - 0x1p-53, 0.5, 0.5.nextUp, 0.5.nextDown, 1.0.nextDown.nextDown,
                            (0.5).squareRoot(), (0.5).squareRoot().nextUp, (0.5).squareRoot().nextDown,
                            2.0.squareRoot(), 2.0.squareRoot().nextUp, 2.0.squareRoot().nextDown,
                            1, 2, 1.0.nextUp, Double.leastNormalMagnitude, Double.greatestFiniteMagnitude, .pi, .ulpOfOne]
        for i in 1..<400_000 { xs.append(Double(i) / 400_000) }                 // (0, 1) evenly
        for i in 0..<200_000 { xs.append(Foundation.exp2(-53 * Double(i) / 200_000)) }  // (2⁻⁵³, 1] by exponent
        var s = RandomStream(seed: 9, purpose: .experiment)
        for _ in 0..<200_000 {  // every binade: random mantissa, random exponent
            let bits = (s.nextUInt64() & 0x000F_FFFF_FFFF_FFFF) | (UInt64(1 + s.integer(below: 2046)) << 52)
            xs.append(Double(bitPattern: bits))
        }
        return xs
    }

    /// fdlibm's log is within 1 ulp of the exact value; the C library's too; so within 1 ulp of
    /// each other they differ only where both round a near-halfway value apart.
    @Test func logIsWithinOneUlpOfTheCLibrary() {
        var worstLibm = 0.0, worstExact = 0.0, differing = 0
        let xs = Self.logArguments()
        for x in xs {
            let mine = VectorNormals.log(x), libm = Foundation.log(x)
            let d = Self.ulps(mine, libm)
            if d > 0 { differing += 1 }
            worstLibm = max(worstLibm, d)
            worstExact = max(worstExact, Self.ulps(mine, exact: logl(Float80(x))))
        }
        #expect(worstLibm <= 1, "max \(worstLibm) ulp from the C library's log over \(xs.count) arguments")
        #expect(worstExact < 1, "max \(worstExact) ulp from the exact log")
        #expect(Double(differing) < 0.05 * Double(xs.count), "\(differing) of \(xs.count) differ from the C library")
        print("log: max \(worstLibm) ulp from the C library, \(worstExact) from exact, \(differing) of \(xs.count) differ")
        #expect(VectorNormals.log(1) == 0)
        #expect(VectorNormals.log(2) == Foundation.log(2.0))
    }

    /// The sin and cos kernels on their domain [−π/4, π/4] against the C library, and the
    /// whole-turn functions sin 2πu, cos 2πu against an exact (Float80) value: their reduction
    /// in turns is exact, so they stay within a few ulp even where the result is tiny.
    @Test func sinCosAreWithinOneUlpOfTheCLibrary() {
        var worstSin = 0.0, worstCos = 0.0
        let edges: [Double] = [0, -0.0, .pi / 4, -.pi / 4, (Double.pi / 4).nextDown, 1e-300, -1e-300, 0x1p-30, 1e-8]
        let sweep = (0...400_000).map { -Double.pi / 4 + Double.pi / 2 * Double($0) / 400_000 }
        for x in edges + sweep {
            worstSin = max(worstSin, Self.ulps(VectorNormals.sinKernel(x), Foundation.sin(x)))
            worstCos = max(worstCos, Self.ulps(VectorNormals.cosKernel(x), Foundation.cos(x)))
        }
        #expect(worstSin <= 1, "sin kernel: max \(worstSin) ulp from the C library")
        #expect(worstCos <= 1, "cos kernel: max \(worstCos) ulp from the C library")

        // The exact values, in Float80 after the same (exact) reduction by quarter turns: sinl
        // of 2π·u itself would carry π's Float80 rounding, 10⁻¹⁹ absolute, into tiny results.
        func exact(_ u: Double) -> (sin: Float80, cos: Float80) {
            let k = (4 * u).rounded()
            let a = 2 * Float80.pi * (Float80(u) - Float80(k) / 4)
            let (s, c) = (sinl(a), cosl(a))
            switch Int(k) & 3 {
            case 0: return (s, c)
            case 1: return (c, -s)
            case 2: return (-s, -c)
            default: return (-c, s)
            }
        }
        var worstTurnSin = 0.0, worstTurnCos = 0.0, worstU = (0.0, 0.0)
        let turnEdges: [Double] = [0, 0x1p-52, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1 - 0x1p-53,
                                   0.25.nextUp, 0.25.nextDown, 0.5.nextDown, 0.75.nextUp, 0.125.nextDown, 0.125.nextUp]
        let turns = turnEdges + (0..<400_000).map { Double($0) / 400_000 + 0x1p-40 }
        for u in turns {
            let (s, c) = VectorNormals.sinCosTurns(u)
            let (exactS, exactC) = exact(u)
            // Exact zeros (u a multiple of ¼) must come out as zeros.
            if exactS == 0 { #expect(s == 0, "sin 2π·\(u) = \(s)") } else {
                let e = Self.ulps(s, exact: exactS)
                if e > worstTurnSin { worstTurnSin = e; worstU.0 = u }
            }
            if exactC == 0 { #expect(c == 0, "cos 2π·\(u) = \(c)") } else {
                let e = Self.ulps(c, exact: exactC)
                if e > worstTurnCos { worstTurnCos = e; worstU.1 = u }
            }
        }
        #expect(worstTurnSin <= 2, "sin 2πu: max \(worstTurnSin) ulp from the exact value, at u = \(worstU.0)")
        #expect(worstTurnCos <= 2, "cos 2πu: max \(worstTurnCos) ulp from the exact value, at u = \(worstU.1)")
        print("sin/cos kernels: max \(worstSin), \(worstCos) ulp from the C library; sin 2πu, cos 2πu: max \(worstTurnSin), \(worstTurnCos) ulp from exact")
    }

    /// Eight lanes compute exactly the scalar definitions, on edges and random arguments.
    @Test func lanesAreTheScalarDefinition() {
        var s = RandomStream(seed: 3, purpose: .experiment)
        var logs: [Double] = [0x1p-53, 1 - 0x1p-53, 0.5, 1, 2.0.squareRoot(), 2.0.squareRoot().nextUp, 0.7071067811865476, 3]
        var turns: [Double] = [0, 0.125, 0.25, 0.5, 0.75, 1 - 0x1p-52, 0.875, 0.375]
        for _ in 0..<80_000 {
            logs.append((Double(s.nextUInt64() >> 12) + 0.5) * 0x1p-52)
            turns.append(Double(s.nextUInt64() >> 12) * 0x1p-52)
        }
        var mismatches = 0
        for g in stride(from: 0, to: logs.count, by: 8) {
            var x = SIMD8<Double>(), u = SIMD8<Double>()
            for l in 0..<8 { x[l] = logs[g + l]; u[l] = turns[g + l] }
            let lx = VectorNormals.log(x), (su, cu) = VectorNormals.sinCosTurns(u)
            for l in 0..<8 {
                let (ss, cs) = VectorNormals.sinCosTurns(turns[g + l])
                if lx[l].bitPattern != VectorNormals.log(logs[g + l]).bitPattern
                    || su[l].bitPattern != ss.bitPattern || cu[l].bitPattern != cs.bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        // Whole pairs from Philox blocks, including words that give u₁'s extremes.
        let key = SIMD2<UInt32>(7, 1), counter = SIMD4<UInt32>(0, 4, 2, 1)
        let out = UnsafeMutablePointer<Double>.allocate(capacity: 2000)
        defer { out.deallocate() }
        VectorNormals.normals(1999, firstBlock: 0xFFFF_FF00, counter: counter, key: key, into: out)
        for p in 0..<1000 {
            var c = counter
            c[0] = 0xFFFF_FF00 &+ UInt32(p)
            let (z0, z1) = VectorNormals.pair(philox4x32(c, key: key))
            #expect(out[2 * p].bitPattern == z0.bitPattern)
            if 2 * p + 1 < 1999 { #expect(out[2 * p + 1].bitPattern == z1.bitPattern) }
        }
        let (w0, w1, w2, w3) = (SIMD8<UInt64>(0, 0xFFFF_FFFF, 0, 0xFFFF_FFFF, 1, 0, 0x8000_0000, 5),
                                SIMD8<UInt64>(0, 0xFFFF_FFFF, 0, 0xFFFF_FFFF, 0, 0x1000, 0, 6),
                                SIMD8<UInt64>(0, 0xFFFF_FFFF, 0x4000_0000, 0x8000_0000, 0xC000_0000, 3, 2, 1),
                                SIMD8<UInt64>(0, 0xFFFF_FFFF, 0, 0, 0, 4, 3, 2))
        let (z0, z1) = VectorNormals.pairs(w0, w1, w2, w3)
        for l in 0..<8 {
            let (a, b) = VectorNormals.pair(SIMD4(UInt32(w0[l]), UInt32(w1[l]), UInt32(w2[l]), UInt32(w3[l])))
            #expect(z0[l].bitPattern == a.bitPattern && z1[l].bitPattern == b.bitPattern, "lane \(l)")
            #expect(z0[l].isFinite && z1[l].isFinite)
        }
        // u₁ = 0 (all-zero words) is taken as 2⁻⁵⁴: the largest radius, √(108 ln 2).
        #expect(abs(z0[0] - (108 * Foundation.log(2.0)).squareRoot()) < 1e-14)
    }

    /// From a block boundary, the default stream's `normal()` draws the same two uniforms from each
    /// block, so the two samplers' normals differ only by the rounding of log, sin and cos.
    @Test func closeToTheDefaultSamplerOnAlignedBlocks() {
        var plain = RandomStream(seed: 77, purpose: .trainingBatch, step: 5, index: 1)
        var vector = RandomStream(seed: 77, purpose: .trainingBatch, step: 5, index: 1)
        let count = 200_000
        let z = vector.vectorizedNormals(count)
        var worst = 0.0, equal = 0
        for i in 0..<count {
            let d = plain.normal()
            worst = max(worst, abs(z[i] - d) / max(1, abs(d)))
            if z[i] == d { equal += 1 }
        }
        #expect(worst < 1e-14, "largest difference \(worst)")
        #expect(equal > count / 4, "\(equal) of \(count) bit-equal")
        #expect(plain.nextUInt32() == vector.nextUInt32(), "both streams at the same block afterwards")
    }

    /// `PhiloxBlockStream.vectorizedNormals` is `RandomStream.vectorizedNormals`, in any
    /// interleaving with uniforms and words (partly used blocks and buffers skipped alike).
    @Test func blockStreamIsRandomStream() {
        let buffer = UnsafeMutablePointer<UInt32>.allocate(capacity: PhiloxBlockStream.bufferWords)
        let out = UnsafeMutablePointer<Double>.allocate(capacity: 200)
        defer { buffer.deallocate(); out.deallocate() }
        for (seed, step, index) in [(UInt64(0), 0, 0), (42, 17, 255), (0xDEAD_BEEF_0123_4567, 99_999, 3)] {
            var plain = RandomStream(seed: seed, purpose: .trainingBatch, step: step, index: index)
            var fast = PhiloxBlockStream(seed: seed, purpose: .trainingBatch, step: step, index: index, buffer: buffer)
            for run in 1...90 {
                switch run % 4 {
                case 0:
                    let count = (run * 7) % 41  // 0 … 40, odd and even
                    fast.vectorizedNormals(count, into: out)
                    let expected = plain.vectorizedNormals(count)
                    #expect((0..<count).map { out[$0].bitPattern } == expected.map(\.bitPattern), "run \(run)")
                case 1:
                    for _ in 0..<(run % 7) { #expect(fast.uniform().bitPattern == plain.uniform().bitPattern) }
                case 2:
                    for _ in 0..<(run % 5) { #expect(fast.nextUInt32() == plain.nextUInt32()) }
                default:
                    #expect(fast.uniform(-1, 1).bitPattern == plain.uniform(-1, 1).bitPattern)
                }
            }
        }
    }

    /// 10⁶ normals: mean, variance, excess kurtosis and skewness each within 5 standard errors
    /// of N(0, 1)'s (σ/√N, σ²√(2/N), √(24/N), √(6/N)), the tail mass beyond 3 within 5 binomial
    /// errors, and the Kolmogorov–Smirnov distance below the 0.1% critical value 1.95/√N.
    @Test func normalsHaveTheNormalLaw() {
        let n = 1_000_000
        var z = [Double](repeating: 0, count: n)
        z.withUnsafeMutableBufferPointer {
            VectorNormals.normals(n, firstBlock: 0, counter: SIMD4(0, 1, 2, 3), key: SIMD2(2024, 11), into: $0.baseAddress!)
        }
        let N = Double(n)
        let mean = z.reduce(0, +) / N
        var m2 = 0.0, m3 = 0.0, m4 = 0.0, tail = 0
        for x in z {
            let d = x - mean, d2 = d * d
            m2 += d2; m3 += d2 * d; m4 += d2 * d2
            if abs(x) > 3 { tail += 1 }
        }
        m2 /= N; m3 /= N; m4 /= N
        let skew = m3 / (m2 * m2.squareRoot()), kurt = m4 / (m2 * m2) - 3
        #expect(abs(mean) < 5 / N.squareRoot(), "mean \(mean)")
        #expect(abs(m2 - 1) < 5 * (2 / N).squareRoot(), "variance \(m2)")
        #expect(abs(skew) < 5 * (6 / N).squareRoot(), "skewness \(skew)")
        #expect(abs(kurt) < 5 * (24 / N).squareRoot(), "excess kurtosis \(kurt)")
        let pTail = Foundation.erfc(3 / 2.0.squareRoot())
        #expect(abs(Double(tail) - pTail * N) < 5 * (N * pTail * (1 - pTail)).squareRoot(), "|z| > 3: \(tail)")
        z.sort()
        var ks = 0.0
        for (i, x) in z.enumerated() {
            let cdf = 0.5 * Foundation.erfc(-x / 2.0.squareRoot())
            ks = max(ks, abs(cdf - Double(i) / N), abs(Double(i + 1) / N - cdf))
        }
        #expect(ks < 1.95 / N.squareRoot(), "Kolmogorov–Smirnov distance \(ks)")
        #expect(z.first! > -8.66 && z.last! < 8.66)
    }
}
