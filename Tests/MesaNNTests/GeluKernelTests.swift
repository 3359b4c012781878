import Foundation
import Testing
import MesaNN
import MesaTensor

/// The MLP tiles' 16-lane GELU (CSupport's gelu512.c) against MesaTensor's
/// `geluValueAndDerivative` one element at a time: the same bits for gelu and gelu′, over normal
/// draws at several spreads, the tanh clamp's edges, ±0, subnormals, ±∞, NaN and huge values, and
/// counts that leave a masked tail; nothing past `count` is written.
@Suite struct GeluKernelTests {
    /// Inputs: draws at spreads 0.1…30, the clamp's edges (c·z = ±7.9053… near x ≈ ±4.4), specials.
    func inputs(count: Int, seed: UInt64) -> [Float] {
        var stream = RandomStream(seed: seed, purpose: .experiment)
        let spreads: [Double] = [0.1, 1, 3, 30]
        var x = (0..<count).map { i in Float(stream.normal() * spreads[i % spreads.count]) }
        let specials: [Float] = [0, -0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .infinity, -.infinity, .nan,
                                 .greatestFiniteMagnitude, -1e20, 4.4, -4.4, 4.3965, -4.3965, 7.9, 1e-30]
        for (j, v) in specials.enumerated() where 3 * j < count { x[3 * j] = v }
        return x
    }

    /// The first index where two arrays' bits differ, with both values (nil when none).
    func firstDifference(_ a: [Float], _ b: [Float], inputs x: [Float]) -> String? {
        guard a.count == b.count else { return "lengths \(a.count), \(b.count)" }
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
        return "x[\(i)] = \(x[i]): \(a[i]) against \(b[i])"
    }

    @Test(arguments: [1, 15, 16, 17, 63, 64, 65, 100, 2048 + 5])
    func sixteenLanesAreTheScalarFormulaBitForBit(count: Int) throws {
        try #require(KernelChoice.cpuHasAVX512, "no AVX-512 on this CPU: only the Swift loop runs")
        let x = inputs(count: count, seed: UInt64(count))
        let expected = x.map { geluValueAndDerivative($0) }
        let guardValue: Float = 12345
        var value = [Float](repeating: guardValue, count: count + 16)
        var derivative = value, valueOnly = value
        x.withUnsafeBufferPointer { xp in
            GeluKernels.valuesAndDerivatives(xp.baseAddress!, into: &value, derivatives: &derivative, count: count, wide: true)
            GeluKernels.values(xp.baseAddress!, into: &valueOnly, count: count, wide: true)
        }
        let differences = [firstDifference(Array(value[..<count]), expected.map(\.value), inputs: x).map { "gelu: \($0)" },
                           firstDifference(Array(derivative[..<count]), expected.map(\.derivative), inputs: x).map { "gelu′: \($0)" },
                           firstDifference(Array(valueOnly[..<count]), expected.map(\.value), inputs: x).map { "gelu alone: \($0)" }]
        #expect(differences.allSatisfy { $0 == nil }, "count \(count): \(differences.compactMap { $0 })")
        #expect(value[count...].allSatisfy { $0 == guardValue } && derivative[count...].allSatisfy { $0 == guardValue }
                && valueOnly[count...].allSatisfy { $0 == guardValue }, "wrote past count \(count)")
        // The comparison is of computed values: gelu(3) ≈ 2.996, gelu′(0) = ½.
        if count >= 2 { #expect(abs(expected[1].value - x[1] * 0.5 * (1 + Float(tanhApprox(x[1])))) < 1e-4) }
    }

    /// The Swift loop (the path MESA_KERNELS=portable takes) is the same formula too.
    @Test func portableLoopIsTheScalarFormula() {
        let x = inputs(count: 333, seed: 9)
        var value = [Float](repeating: 0, count: 333), derivative = value
        x.withUnsafeBufferPointer { xp in
            GeluKernels.valuesAndDerivatives(xp.baseAddress!, into: &value, derivatives: &derivative, count: 333, wide: false)
        }
        #expect(firstDifference(value, x.map { geluValueAndDerivative($0).value }, inputs: x) == nil)
        #expect(firstDifference(derivative, x.map { geluValueAndDerivative($0).derivative }, inputs: x) == nil)
    }

    /// tanh in Double, for the sanity check that the formula is GELU at all.
    func tanhApprox(_ x: Float) -> Double {
        let z = 0.7978845608028654 * (Double(x) + 0.044715 * Double(x) * Double(x) * Double(x))
        return (exp(2 * z) - 1) / (exp(2 * z) + 1)
    }
}
