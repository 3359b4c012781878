import MesaTensor

/// Task 3 of SPEC §1, the nonlinear dynamical system:
///     s_{t+1} = W* MLP*(s_t) + ε_t,   MLP*(h) = B·GELU(A h) / ‖B·GELU(A h)‖,
/// W* Haar-random orthogonal n×n, A [width, n] with entries N(0, (inputGain/√n)²),
/// B [n, width] with entries N(0, 1/width), ε_t ~ N(0, σ² I), s_1 ~ U(−1, 1)ⁿ, states clipped to
/// ±`stateClip`. The normalization keeps the states on the unit sphere (up to noise), so the
/// dynamics neither explode nor die out. It also makes the scale of B irrelevant, which is why
/// only A's gain is a setting: it decides how far into GELU's curved part the states reach.
public struct NonlinearLDS: SequenceTask, Codable, Equatable {
    /// What task 3 adds to task 1's fields, as `task.nonlinear` in config.json.
    public struct Settings: Codable, Equatable, Sendable {
        /// Hidden width of the teacher MLP.
        public var width: Int
        /// A's entries have standard deviation inputGain/√n (SPEC: ≈ 1.1).
        public var inputGain: Double

        public init(width: Int = 40, inputGain: Double = 1.1) {
            self.width = width
            self.inputGain = inputGain
        }
    }

    /// The teacher of one sequence, row-major: W* [n, n], A [width, n], B [n, width].
    public struct Teacher: Equatable {
        public var transition: [Double]
        public var a: [Double]
        public var b: [Double]
    }

    public var dimension: Int
    public var settings: Settings
    public var noise: Double
    public var stateClip: Double

    public init(dimension: Int = 10, settings: Settings = Settings(), noise: Double = 0.01, stateClip: Double = 10) {
        self.dimension = dimension
        self.settings = settings
        self.noise = noise
        self.stateClip = stateClip
    }

    /// Drawn first from the sequence's stream: W*, A, B.
    public func teacher(stream: inout RandomStream) -> Teacher {
        let (n, m) = (dimension, settings.width)
        let w = Linalg.haarOrthogonal(n, stream: &stream)
        let aStd = settings.inputGain / Double(n).squareRoot(), bStd = 1 / Double(m).squareRoot()
        let a = (0..<(m * n)).map { _ in aStd * stream.normal() }
        let b = (0..<(n * m)).map { _ in bStd * stream.normal() }
        return Teacher(transition: w, a: a, b: b)
    }

    /// MLP*(h): unit norm (zero only where B·GELU(A h) is exactly zero).
    public func mlp(_ teacher: Teacher, _ h: ArraySlice<Double>) -> [Double] {
        let (n, m) = (dimension, settings.width)
        let hidden = (0..<m).map { k in
            geluValue((0..<n).reduce(0.0) { $0 + teacher.a[k * n + $1] * h[h.startIndex + $1] })
        }
        let out = (0..<n).map { i in (0..<m).reduce(0.0) { $0 + teacher.b[i * m + $1] * hidden[$1] } }
        let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? out.map { $0 / norm } : out
    }

    public func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        let n = dimension
        let teacher = teacher(stream: &stream)
        var s = [Double](repeating: 0, count: count * n)
        for i in 0..<min(n, s.count) { s[i] = stream.uniform(-1, 1) }
        for t in 1..<max(count, 1) {
            let g = mlp(teacher, s[((t - 1) * n)..<(t * n)])
            for i in 0..<n {
                var x = noise * stream.normal()
                for j in 0..<n { x += teacher.transition[i * n + j] * g[j] }
                s[t * n + i] = min(max(x, -stateClip), stateClip)
            }
        }
        return s
    }
}
