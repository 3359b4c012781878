import MesaTensor

/// Task 6 of SPEC §1, few-shot linear regression in context: W ~ Haar-random orthogonal n×n,
/// x_i ~ N(0, I_n), y_i = W x_i, and the tokens [x_1, y_1, x_2, y_2, …], each of width n.
/// Read as a sequence s_1, s_2, … like the dynamical systems, an LDS-trained model predicts
/// the next token at every position; only its predictions of the y_i, made at the x_i, are
/// regression, so `batch(pairs:…)` scores only those (the loss mask).
public struct FewShotRegression: SequenceTask, Codable, Equatable {
    public var dimension: Int

    public init(dimension: Int = 10) { self.dimension = dimension }

    /// Tokens x_1, y_1, x_2, … (count of them), row-major [count, n]; W is drawn first.
    public func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        let n = dimension
        let w = Linalg.haarOrthogonal(n, stream: &stream)
        var s = [Double](repeating: 0, count: count * n)
        for t in stride(from: 0, to: count, by: 2) {
            for i in 0..<n { s[t * n + i] = stream.normal() }
            guard t + 1 < count else { break }
            for i in 0..<n {
                var y = 0.0
                for j in 0..<n { y += w[i * n + j] * s[t * n + j] }
                s[(t + 1) * n + i] = y
            }
        }
        return s
    }

    /// `pairs` pairs as a batch of 2·pairs positions: position 2(i−1) holds x_i and is scored on
    /// its target y_i (mask 1); position 2i−1 holds y_i, whose target x_{i+1} cannot be predicted
    /// (mask 0).
    public func batch(pairs: Int, size: Int, seed: UInt64, purpose: RandomPurpose, step: Int = 0,
                      dtype: DType = .float32) -> SequenceBatch {
        precondition(pairs >= 1, "few-shot regression needs at least one pair, got \(pairs)")
        var b = batch(size: size, length: 2 * pairs, seed: seed, purpose: purpose, step: step, dtype: dtype)
        let mask = (0..<(size * 2 * pairs)).map { $0 % 2 == 0 ? 1.0 : 0.0 }
        b.lossMask = Tensor(shape: [size, 2 * pairs], mask, dtype: dtype)
        return b
    }
}
