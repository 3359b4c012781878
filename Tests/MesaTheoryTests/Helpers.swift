import Numerics
import MesaTensor
import MesaTheory

/// Small random weights (every entry complex) for gradient checks.
func randomModel(dimension d: Int, seed: UInt64, scale: Double = 0.3) throws -> LinearCausalAttention {
    var stream = RandomStream(seed: seed, purpose: .parameterInit)
    func draw(_ n: Int) -> [Complex<Double>] { (0..<n).map { _ in Complex(scale * stream.normal(), scale * stream.normal()) } }
    return try LinearCausalAttention(dimension: d, keyQuery: draw(4 * d * d), projectionValue: draw(2 * d * d))
}

func maxAbsDifference(_ a: [Complex<Double>], _ b: [Complex<Double>]) -> Double {
    zip(a, b).map { ($0 - $1).length }.max() ?? 0
}

func maxModulus(_ a: [Complex<Double>]) -> Double { a.map(\.length).max() ?? 0 }
