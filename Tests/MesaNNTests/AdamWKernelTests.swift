import Testing
import MesaNN
import MesaTensor

/// AdamW's update eight elements at a time against the formulas one element at a time
/// (issue 14: the update ran as a scalar loop, ~25 ns an element): the same bits in Float32 and
/// Float64, with element clipping, global-norm scaling, weight decay, NaN and ±∞ gradients and
/// counts that leave a tail.
@Suite struct AdamWKernelTests {
    func check<S: TensorScalar>(_: S.Type, count: Int, clip: Double, scale: Double, decay: Double, seed: UInt64) {
        var stream = RandomStream(seed: seed, purpose: .experiment)
        func draw(_ spread: Double) -> [S] { (0..<count).map { _ in S(stream.normal() * spread) } }
        var g = draw(3), m = draw(0.1), v = draw(0.1).map { $0 * $0 }, p = draw(1)
        if count > 5 { g[1] = .nan; g[3] = .infinity; g[4] = -.infinity; g[5] = 0 }
        var m2 = m, v2 = v, p2 = p
        let p0 = p
        let c = AdamWConstants<S>(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, rate: 3e-4, inverseC1: 1 / 0.271,
                                  inverseC2: 1 / 0.002997, decay: decay, scale: scale, clip: clip)
        adamwElements(count, g: g, m: &m, v: &v, p: &p, c)
        g.withUnsafeBufferPointer { gp in
            adamwElementsReference(from: 0, to: count, g: gp.baseAddress!, m: &m2, v: &v2, p: &p2, c)
        }
        func same(_ a: [S], _ b: [S]) -> Bool { a.withUnsafeBytes { x in b.withUnsafeBytes { x.elementsEqual($0) } } }
        let (sameP, sameM, sameV) = (same(p, p2), same(m, m2), same(v, v2))
        #expect(sameP, "parameters, count \(count)")
        #expect(sameM, "first moments, count \(count)")
        #expect(sameV, "second moments, count \(count)")
        // The update moved the parameters whose gradient is finite (the comparison is not of untouched arrays).
        #expect(zip(p, p0).enumerated().allSatisfy { j, pair in !g[j].isFinite || g[j] == 0 && decay == 0 || pair.0 != pair.1 })
    }

    @Test(arguments: [1, 7, 8, 9, 64, 1001])
    func eightWideIsTheFormulaBitForBit(count: Int) {
        for (clip, scale, decay) in [(Double.infinity, 1.0, 0.05), (1.0, 1.0, 0.0), (0.5, 0.3, 0.05)] {
            check(Float.self, count: count, clip: clip, scale: scale, decay: decay, seed: UInt64(count))
            check(Double.self, count: count, clip: clip, scale: scale, decay: decay, seed: UInt64(count) + 7)
        }
    }
}
