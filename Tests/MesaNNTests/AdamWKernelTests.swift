import Testing
import MesaNN
import MesaTensor

/// AdamW's update several elements at a time (Swift's SIMD8; for Float32 on x86-64 also the C
/// kernel's AVX2 and AVX-512 lanes) against the formulas one element at a time (issue 14): the
/// same bits in Float32 and Float64, with element clipping, global-norm scaling, weight decay, NaN and ±∞ gradients and
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
        g.withUnsafeBufferPointer { gp in
            adamwElementsReference(from: 0, to: count, g: gp.baseAddress!, m: &m2, v: &v2, p: &p2, c)
        }
        func same(_ a: [S], _ b: [S]) -> Bool { a.withUnsafeBytes { x in b.withUnsafeBytes { x.elementsEqual($0) } } }
        // Every form this machine can run: Swift's eight lanes, and for Float32 on x86-64 the C kernel's
        // eight (AVX2) and sixteen (AVX-512) lanes.
        var forms: [(String, (inout [S], inout [S], inout [S]) -> Void)] = [
            ("SIMD8", { m, v, p in adamwElementsSIMD8(count, g: g, m: &m, v: &v, p: &p, c) })]
        #if arch(x86_64)
        if S.self == Float.self {
            forms.append(("AVX2", { m, v, p in adamwElements(count, g: g, m: &m, v: &v, p: &p, c, wide: false) }))
            if KernelChoice.cpuHasAVX512 {
                forms.append(("AVX-512", { m, v, p in adamwElements(count, g: g, m: &m, v: &v, p: &p, c, wide: true) }))
            }
        }
        #endif
        for (name, form) in forms {
            var (m1, v1, p1) = (m, v, p)
            form(&m1, &v1, &p1)
            let (sameP, sameM, sameV) = (same(p1, p2), same(m1, m2), same(v1, v2))
            #expect(sameP, "parameters, \(name), count \(count)")
            #expect(sameM, "first moments, \(name), count \(count)")
            #expect(sameV, "second moments, \(name), count \(count)")
        }
        adamwElements(count, g: g, m: &m, v: &v, p: &p, c)
        // The update moved the parameters whose gradient is finite (the comparison is not of untouched arrays).
        #expect(zip(p, p0).enumerated().allSatisfy { j, pair in !g[j].isFinite || g[j] == 0 && decay == 0 || pair.0 != pair.1 })
    }

    @Test(arguments: [1, 7, 8, 9, 15, 16, 17, 64, 1001])
    func eightWideIsTheFormulaBitForBit(count: Int) {
        for (clip, scale, decay) in [(Double.infinity, 1.0, 0.05), (1.0, 1.0, 0.0), (0.5, 0.3, 0.05)] {
            check(Float.self, count: count, clip: clip, scale: scale, decay: decay, seed: UInt64(count))
            check(Double.self, count: count, clip: clip, scale: scale, decay: decay, seed: UInt64(count) + 7)
        }
    }
}
