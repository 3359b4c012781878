import Foundation
import Testing
import MesaTensor

@Suite struct FastMathTests {
    @Test func fastExpIsAccurate() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = -87.0 + 175.0 * Double(i) / 200_000
            let y = Double(fastExp(Float(x))), ref = exp(Double(Float(x)))
            worst = max(worst, abs(y - ref) / ref)
        }
        #expect(worst < 3e-7, "worst relative error \(worst)")
        #expect(fastExp(Float(-200)) == 0 && fastExp(Float(200)) == .infinity && fastExp(Float(0)) == 1)
    }

    @Test func fastTanhIsAccurate() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = -12.0 + 24.0 * Double(i) / 200_000
            let y = Double(fastTanh(Float(x))), ref = tanh(Double(Float(x)))
            worst = max(worst, abs(y - ref))
        }
        #expect(worst < 5e-7, "worst absolute error \(worst)")
        #expect(fastTanh(Float(0)) == 0 && fastTanh(Float(20)) == 1 && fastTanh(Float(-20)) == -1)
    }

    /// The Double versions, which the Double kernels (analyses, finite-difference checks) use, agree
    /// with the C library's to a few ulp over the whole range softmax and GELU reach, and beyond.
    @Test func fastDoubleExpIsAccurateToAFewUlp() {
        var worst = 0.0
        for i in 0...400_000 {
            let x = -700.0 + 1400.0 * Double(i) / 400_000 + 1e-7 * Double(i % 7)
            let ref = exp(x)
            worst = max(worst, abs(fastExp(x) - ref) / ref)
        }
        for i in 0...100_000 {  // near 0, where softmax's shifted logits live
            let x = -20.0 + 20.0 * Double(i) / 100_000
            let ref = exp(x)
            worst = max(worst, abs(fastExp(x) - ref) / ref)
        }
        #expect(worst < 4 * Double.ulpOfOne, "worst relative error \(worst)")
        #expect(fastExp(-800.0) == 0 && fastExp(710.0) == .infinity && fastExp(0.0) == 1 && fastExp(-Double.infinity) == 0)
        #expect(fastExp(Double.nan).isNaN)
        #expect(abs(fastExp(-740.0) - exp(-740.0)) <= 2 * exp(-740.0) * 1e-3)  // subnormal results still close
    }

    @Test func fastDoubleTanhIsAccurateToAFewUlp() {
        var worst = 0.0
        for i in 0...400_000 {
            let x = -25.0 + 50.0 * Double(i) / 400_000 + 1e-9 * Double(i % 5)
            let ref = tanh(x)
            guard ref != 0 else { continue }
            worst = max(worst, abs(fastTanh(x) - ref) / abs(ref))
        }
        for e in -300...0 {  // tiny arguments: tanh x ≈ x, relative accuracy kept
            let x = pow(2.0, Double(e) / 10) * 1e-3
            worst = max(worst, abs(fastTanh(x) - tanh(x)) / tanh(x), abs(fastTanh(-x) - tanh(-x)) / tanh(x))
        }
        #expect(worst < 4 * Double.ulpOfOne, "worst relative error \(worst)")
        #expect(fastTanh(0.0) == 0 && fastTanh(30.0) == 1 && fastTanh(-30.0) == -1 && fastTanh(Double.infinity) == 1)
        #expect(fastTanh(Double.nan).isNaN)
    }
}
