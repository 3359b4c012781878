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
        #expect(fastExp(-200) == 0 && fastExp(200) == .infinity && fastExp(0) == 1)
    }

    @Test func fastTanhIsAccurate() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = -12.0 + 24.0 * Double(i) / 200_000
            let y = Double(fastTanh(Float(x))), ref = tanh(Double(Float(x)))
            worst = max(worst, abs(y - ref))
        }
        #expect(worst < 5e-7, "worst absolute error \(worst)")
        #expect(fastTanh(0) == 0 && fastTanh(20) == 1 && fastTanh(-20) == -1)
    }
}
