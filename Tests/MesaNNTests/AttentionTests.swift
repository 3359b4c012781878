import Testing
import MesaTensor
import MesaNN

/// Fast attention kernels against the naive formulas, and their backward passes against
/// finite differences.
@Suite struct AttentionTests {
    // B 3, T 7, H 2, d_k 4, d_v 3
    let q = randomTensor([3, 7, 8], seed: 1), k = randomTensor([3, 7, 8], seed: 2), v = randomTensor([3, 7, 6], seed: 3)

    @Test(arguments: [DType.float32, .float64])
    func linearAttentionMatchesNaive(dtype: DType) {
        let fast = linearAttentionForward(q: q.converted(to: dtype), k: k.converted(to: dtype),
                                          v: v.converted(to: dtype), heads: 2).out
        let ref = naiveLinearAttention(q: q, k: k, v: v, heads: 2)
        #expect(fast.relativeError(to: ref) < (dtype == .float32 ? 1e-6 : 1e-14))
    }

    @Test(arguments: [DType.float32, .float64])
    func softmaxAttentionMatchesNaive(dtype: DType) {
        let fast = softmaxAttentionForward(q: q.converted(to: dtype), k: k.converted(to: dtype),
                                           v: v.converted(to: dtype), heads: 2)
        let ref = naiveSoftmaxAttention(q: q, k: k, v: v, heads: 2)
        #expect(fast.out.relativeError(to: ref) < (dtype == .float32 ? 1e-6 : 1e-14))
        // Rows of the attention weights sum to one over the past and are zero on the future.
        let w = fast.weights
        for t in 0..<7 {
            #expect(abs((0...t).map { w[1, 1, t, $0] }.reduce(0, +) - 1) < 1e-6)
            for tp in (t + 1)..<7 { #expect(w[1, 1, t, tp] == 0) }
        }
    }

    @Test func causality() {
        // Changing the last position must not change any earlier output.
        var v2 = v
        v2.withUnsafeMutableBufferPointer(as: Double.self) { p in for i in (6 * 6)..<(7 * 6) { p[i] += 1 } }
        for f in [linearAttentionForward, softmaxAttentionForward] as [(Tensor, Tensor, Tensor, Int) -> (Tensor, Tensor)] {
            let a = f(q, k, v, 2).0.doubles, b = f(q, k, v2, 2).0.doubles
            for t in 0..<6 { for j in 0..<6 { #expect(a[t * 6 + j] == b[t * 6 + j]) } }
        }
    }

    @Test func backwardMatchesFiniteDifferences() {
        let r = GradCheck.projection(for: [3, 7, 6])
        let lin = GradCheck.relativeErrors([q, k, v]) { x in dot(linearAttention(x[0], x[1], x[2], heads: 2), r) }
        let soft = GradCheck.relativeErrors([q, k, v]) { x in dot(softmaxAttention(x[0], x[1], x[2], heads: 2), r) }
        for e in lin + soft { #expect(e < 1e-7) }
    }
}

@Suite struct LayerNormTests {
    @Test func forwardAndBackward() {
        let x = randomTensor([4, 5, 6], seed: 4, std: 2), g = randomTensor([6], seed: 5), b = randomTensor([6], seed: 6)
        let y = layerNormForward(x, gain: Tensor(shape: [6], repeating: 1, dtype: .float64), bias: nil).y.doubles
        for row in 0..<20 {
            let r = Array(y[(row * 6)..<(row * 6 + 6)])
            let mean = r.reduce(0, +) / 6
            let variance = r.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6
            #expect(abs(mean) < 1e-12)
            #expect(abs(variance - 1) < 1e-4)  // ε = 1e-5 against a variance of ~4
        }
        let proj = GradCheck.projection(for: [4, 5, 6])
        let errors = GradCheck.relativeErrors([x, g, b]) { v in
            dot(layerNorm(v[0], gain: v[1], bias: v[2]), proj)
        }
        for e in errors { #expect(e < 1e-7) }
    }

    /// Widths with eight-lane chunks and tails (the row sums' vector paths and the column-chunked
    /// dγ, dβ): finite differences in Double, and Float32 against the formulas evaluated in Double.
    @Test(arguments: [8, 19, 40])
    func lanesAndTails(width: Int) {
        let x = randomTensor([3, 7, width], seed: 11, std: 2), g = randomTensor([width], seed: 12), b = randomTensor([width], seed: 13)
        let proj = GradCheck.projection(for: [3, 7, width])
        let errors = GradCheck.relativeErrors([x, g, b]) { v in dot(layerNorm(v[0], gain: v[1], bias: v[2]), proj) }
        for e in errors { #expect(e < 1e-7, "width \(width)") }

        // Float32 against the formulas: dx = (ĝ − mean ĝ − x̂ mean(ĝ x̂)) / √(σ² + ε), ĝ = γ dy; dγ = Σ dy x̂; dβ = Σ dy.
        let dy = randomTensor([3, 7, width], seed: 14)
        let (y32, xHat32, inv32) = layerNormForward(x.converted(to: .float32), gain: g.converted(to: .float32),
                                                    bias: b.converted(to: .float32))
        let d32 = layerNormBackward(dy.converted(to: .float32), xHat: xHat32, invStd: inv32, gain: g.converted(to: .float32))
        let (xs, gs, bs, dys) = (x.doubles, g.doubles, b.doubles, dy.doubles)
        var yRef = [Double](), dxRef = [Double](), dGainRef = [Double](repeating: 0, count: width), dBiasRef = dGainRef
        for row in 0..<21 {
            let r = Array(xs[(row * width)..<((row + 1) * width)]), d = Array(dys[(row * width)..<((row + 1) * width)])
            let mean = r.reduce(0, +) / Double(width)
            let inv = 1 / (r.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width) + layerNormEpsilon).squareRoot()
            let h = r.map { ($0 - mean) * inv }
            yRef += (0..<width).map { gs[$0] * h[$0] + bs[$0] }
            let gh = (0..<width).map { gs[$0] * d[$0] }
            let meanG = gh.reduce(0, +) / Double(width), meanGH = zip(gh, h).map(*).reduce(0, +) / Double(width)
            dxRef += (0..<width).map { inv * (gh[$0] - meanG - h[$0] * meanGH) }
            for i in 0..<width { dGainRef[i] += d[i] * h[i]; dBiasRef[i] += d[i] }
        }
        func close(_ a: Tensor, _ b: [Double]) -> Bool { zip(a.doubles, b).allSatisfy { abs($0 - $1) <= 1e-4 * (1 + abs($1)) } }
        #expect(close(y32, yRef), "y, width \(width)")
        #expect(close(d32.dx, dxRef), "dx, width \(width)")
        #expect(close(d32.dGain, dGainRef), "dγ, width \(width)")
        #expect(close(d32.dBias, dBiasRef), "dβ, width \(width)")
    }
}
