import MesaTensor
import Numerics

extension ARSequenceSet {
    /// Every sequence together with its images under the symmetries of the data distribution that the
    /// emergence derivation averages over (ZHENG.md item 1): a sign flip of any subset of the coordinates
    /// of x_1 (2^d images; a symmetry of the Gaussian and sparse initial tokens) times a common shift of
    /// all θ_j by 0, 2π/3 or 4π/3 (a symmetry of the uniform θ).
    ///
    /// On such a set the full-batch gradient at `W^{KQ} = [[0,0],[diag(a),0]]`, `W^{PV} = [diag(b), 0]`
    /// is zero to rounding outside those two diagonals, as the expected gradient is: a sign flip of
    /// coordinate j negates every term that pairs j with another coordinate, and the shift multiplies the
    /// terms of the other blocks by e^{−iφ} or e^{−2iφ} (after the rescaling `W^{PV} → cW^{PV}`,
    /// `W^{KQ} → W^{KQ}/c`, which leaves the model unchanged), so the three shifts cancel them.
    /// An i.i.d. training set keeps this structure only up to sampling noise of order m^{−1/2}.
    public func symmetryOrbit() throws -> ARSequenceSet {
        let d = process.dimension
        guard process.initialToken.satisfiesDataCondition == true else {
            throw TheoryError.invalid("the symmetry orbit needs an initial token symmetric under coordinate sign flips (Gaussian or sparse), not \(process.initialToken)")
        }
        guard d <= 12 else { throw TheoryError.invalid("the symmetry orbit has 3·2^d images per sequence; d = \(d) is too large") }
        let shifts = (0..<3).map { Complex<Double>(length: 1, phase: 2 * Double.pi * Double($0) / 3) }
        var rotations: [Complex<Double>] = [], initial: [Complex<Double>] = []
        rotations.reserveCapacity(count * d * 3 << d)
        initial.reserveCapacity(count * d * 3 << d)
        for n in 0..<count {
            for shift in shifts {
                for signs in 0..<(1 << d) {
                    for j in 0..<d {
                        rotations.append(shift * self.rotations[n * d + j])
                        let x = initialTokens[n * d + j]
                        initial.append(signs & (1 << j) != 0 ? -x : x)
                    }
                }
            }
        }
        return try ARSequenceSet(process, rotations: rotations, initialTokens: initial)
    }
}
