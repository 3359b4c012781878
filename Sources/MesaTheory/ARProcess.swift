import Numerics
import MesaTensor
import RealModule

/// The [ZH] autoregressive task (ZHENG.md §Data): `x_{t+1} = W x_t` in complex arithmetic with
/// `W = diag(e^{iθ_1}, …, e^{iθ_d})`, `θ_j ~ U[0, 2π)` drawn anew for every sequence, and `x_1`
/// from `initialToken`. Sequences have `T = length` tokens `x_1 … x_T`.
public struct ARProcess: CustomStringConvertible {
    public var dimension: Int
    public var length: Int
    public var initialToken: InitialTokenDistribution

    public init(dimension: Int = 5, length: Int = 100, initialToken: InitialTokenDistribution) {
        self.dimension = dimension
        self.length = length
        self.initialToken = initialToken
    }

    public var description: String { "\(initialToken), d = \(dimension), T = \(length)" }

    /// T ≥ 3: the loss sums over positions t = 2 … T−1.
    public func validate() throws {
        guard dimension >= 1 else { throw TheoryError.invalid("dimension d must be at least 1, got \(dimension)") }
        guard length >= 3 else { throw TheoryError.invalid("sequence length T must be at least 3 (predictions at t = 2 … T−1), got \(length)") }
        try initialToken.validate()
    }
}

/// `count` sequences of an `ARProcess`, stored as the diagonal of W and the initial token:
/// every later token follows from `x_{t+1} = λ ⊙ x_t` with `λ_j = e^{iθ_j}`.
/// Sequence n is drawn from its own stream (seed, purpose, index n): θ first, then x_1.
public struct ARSequenceSet {
    public let process: ARProcess
    public let count: Int
    /// (count, d): `λ_{nj} = e^{iθ_{nj}}`, the diagonal of sequence n's W.
    public let rotations: [Complex<Double>]
    /// (count, d): `x_{n,1}`.
    public let initialTokens: [Complex<Double>]

    public init(_ process: ARProcess, count: Int, seed: UInt64, purpose: RandomPurpose) throws {
        try process.validate()
        guard count >= 1 else { throw TheoryError.invalid("the number of sequences must be at least 1, got \(count)") }
        let d = process.dimension
        var rotations = [Complex<Double>](repeating: .zero, count: count * d)
        var initial = rotations
        for n in 0..<count {
            var stream = RandomStream(seed: seed, purpose: purpose, index: n)
            for j in 0..<d { rotations[n * d + j] = Complex(length: 1, phase: stream.uniform(0, 2 * .pi)) }
            let x1 = process.initialToken.draw(dimension: d, stream: &stream)
            for j in 0..<d { initial[n * d + j] = x1[j] }
        }
        try self.init(process, rotations: rotations, initialTokens: initial)
    }

    /// A set with given rotations (each of modulus 1) and initial tokens.
    public init(_ process: ARProcess, rotations: [Complex<Double>], initialTokens: [Complex<Double>]) throws {
        try process.validate()
        let d = process.dimension
        guard rotations.count == initialTokens.count, rotations.count % d == 0, !rotations.isEmpty else {
            throw TheoryError.invalid("rotations (\(rotations.count)) and initial tokens (\(initialTokens.count)) must both hold count·d values, d = \(d)")
        }
        guard rotations.allSatisfy({ abs($0.length - 1) < 1e-12 }) else {
            throw TheoryError.invalid("the diagonal of W must be unitary: every rotation of modulus 1")
        }
        guard initialTokens.allSatisfy(\.isFinite) else { throw TheoryError.invalid("initial tokens must be finite") }
        self.process = process
        self.count = rotations.count / d
        self.rotations = rotations
        self.initialTokens = initialTokens
    }

    /// Tokens `x_0 = 0, x_1, …, x_T` of sequence n as rows of a (T+1, d) matrix.
    public func tokens(_ n: Int) -> [Complex<Double>] {
        let d = process.dimension, T = process.length
        var x = [Complex<Double>](repeating: .zero, count: (T + 1) * d)
        for j in 0..<d { x[d + j] = initialTokens[n * d + j] }
        for t in 1..<T {
            for j in 0..<d { x[(t + 1) * d + j] = rotations[n * d + j] * x[t * d + j] }
        }
        return x
    }
}
