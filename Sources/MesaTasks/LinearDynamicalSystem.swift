import MesaTensor

/// Task 1 of SPEC §1, the fully observed linear dynamical system:
/// W* ~ Haar-random orthogonal n×n (new for every sequence), s_1 ~ U(−1, 1)ⁿ,
/// s_{t+1} = W* s_t + ε_t with ε_t ~ N(0, σ² I), every state clipped to ±`stateClip`.
/// With `fixedTeacher` one W* (drawn from the seed alone) is shared by all sequences
/// (task 5, a memorization control).
public struct LinearDynamicalSystem: SequenceTask, Codable, Equatable {
    public var dimension: Int
    public var noise: Double
    public var stateClip: Double
    public var fixedTeacher: UInt64?

    public init(dimension: Int = 10, noise: Double = 0.01, stateClip: Double = 10, fixedTeacher: UInt64? = nil) {
        self.dimension = dimension
        self.noise = noise
        self.stateClip = stateClip
        self.fixedTeacher = fixedTeacher
    }

    /// The teacher of a sequence: drawn first from its stream, or the shared one.
    public func teacher(stream: inout RandomStream) -> [Double] {
        if let seed = fixedTeacher {
            var shared = RandomStream(seed: seed, purpose: .experiment, step: 0, index: 0)
            return Linalg.haarOrthogonal(dimension, stream: &shared)
        }
        return Linalg.haarOrthogonal(dimension, stream: &stream)
    }

    public func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        let n = dimension
        let w = teacher(stream: &stream)
        var s = [Double](repeating: 0, count: count * n)
        for i in 0..<n { s[i] = stream.uniform(-1, 1) }
        for t in 1..<max(count, 1) {
            for i in 0..<n {
                var x = noise * stream.normal()
                for j in 0..<n { x += w[i * n + j] * s[(t - 1) * n + j] }
                s[t * n + i] = min(max(x, -stateClip), stateClip)
            }
        }
        return s
    }
}
