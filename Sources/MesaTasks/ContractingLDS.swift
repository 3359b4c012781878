import MesaTensor

/// Task 4 of SPEC §1, the contracting linear dynamical system: s_{t+1} = W s_t + ε_t with
///     W = U diag(λ) U⁻¹,   U_{ij} ~ N(0, 1),
/// n − 1 eigenvalues λ_i ~ U[eigenvalueLow, eigenvalueHigh] and one fixed at eigenvalueHigh,
/// at a random place among them (SPEC: 0.3, 0.9). Every eigenvalue lies below 1, so states decay
/// towards the noise floor; because U is not orthogonal they can first grow, hence the clip of
/// every value to ±`clip` (SPEC: 2). s_1 ~ U(−1, 1)ⁿ, ε_t ~ N(0, σ² I). Task 1's `stateClip`
/// does not apply here: `clip` replaces it.
public struct ContractingLDS: SequenceTask, Codable, Equatable {
    /// What task 4 adds to task 1's fields, as `task.contracting` in config.json.
    public struct Settings: Codable, Equatable, Sendable {
        public var eigenvalueLow: Double
        /// Also the one eigenvalue every teacher has; below 1.
        public var eigenvalueHigh: Double
        /// Every state value is clipped to [−clip, clip].
        public var clip: Double

        public init(eigenvalueLow: Double = 0.3, eigenvalueHigh: Double = 0.9, clip: Double = 2) {
            self.eigenvalueLow = eigenvalueLow
            self.eigenvalueHigh = eigenvalueHigh
            self.clip = clip
        }
    }

    /// The teacher of one sequence: W = U diag(λ) U⁻¹ [n, n] with its eigenvectors U (columns) and λ.
    public struct Teacher: Equatable {
        public var transition: [Double]
        public var eigenvectors: [Double]
        public var eigenvalues: [Double]
    }

    public var dimension: Int
    public var settings: Settings
    public var noise: Double

    public init(dimension: Int = 10, settings: Settings = Settings(), noise: Double = 0.01) {
        precondition(settings.eigenvalueHigh < 1, "ContractingLDS: eigenvalues must lie below 1, got \(settings.eigenvalueHigh)")
        self.dimension = dimension
        self.settings = settings
        self.noise = noise
    }

    /// Drawn first from the sequence's stream: λ (the fixed one's place, then the others), then U
    /// (drawn again in the probability-zero event that it is singular).
    public func teacher(stream: inout RandomStream) -> Teacher {
        let n = dimension
        let place = stream.integer(below: n)
        let lambda = (0..<n).map { i in
            i == place ? settings.eigenvalueHigh : stream.uniform(settings.eigenvalueLow, settings.eigenvalueHigh)
        }
        while true {
            let u = (0..<(n * n)).map { _ in stream.normal() }
            guard let uInverse = Linalg.inverse(u, n) else { continue }
            var ud = u
            for i in 0..<n { for j in 0..<n { ud[i * n + j] *= lambda[j] } }
            return Teacher(transition: Linalg.matmul(ud, uInverse, n, n, n), eigenvectors: u, eigenvalues: lambda)
        }
    }

    public func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        let (n, c) = (dimension, settings.clip)
        let w = teacher(stream: &stream).transition
        var s = [Double](repeating: 0, count: count * n)
        for i in 0..<min(n, s.count) { s[i] = min(max(stream.uniform(-1, 1), -c), c) }
        for t in 1..<max(count, 1) {
            for i in 0..<n {
                var x = noise * stream.normal()
                for j in 0..<n { x += w[i * n + j] * s[(t - 1) * n + j] }
                s[t * n + i] = min(max(x, -c), c)
            }
        }
        return s
    }
}
