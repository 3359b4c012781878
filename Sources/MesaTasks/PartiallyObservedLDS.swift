import MesaTensor

/// Task 2 of SPEC §1, the partially observed linear dynamical system: a hidden state
/// h ∈ R^hidden evolves as h_{t+1} = W* h_t + ε_t (W* Haar-random orthogonal, ε_t ~ N(0, σ² I),
/// h_1 ~ U(−1, 1)^hidden, clipped to ±`stateClip`), and the model sees only
///     s_t = C* h_t + ν_t,   C*_{ij} ~ N(0, observationStd²),   ν_t ~ N(0, observationNoise² I),
/// with s_t ∈ Rⁿ, n = `dimension` ≤ hidden. The next observation is then no linear function of
/// the current one, but (for generic C*, W*) of the last ⌈hidden/n⌉ observations: the reason
/// the windowed least-squares baseline exists (`Baselines.windowedRidge`).
public struct PartiallyObservedLDS: SequenceTask, Codable, Equatable {
    /// What task 2 adds to task 1's fields, as `task.partial` in config.json.
    public struct Settings: Codable, Equatable, Sendable {
        /// Hidden dimension (SPEC: 15); at least the observed dimension.
        public var hidden: Int
        /// Standard deviation of the entries of C* (SPEC: 0.5).
        public var observationStd: Double
        /// Standard deviation of the observation noise ν_t (SPEC: none).
        public var observationNoise: Double
        /// Observations in the window of the windowed LSQ baseline (`Baselines.windowedRidge`).
        public var lsqWindow: Int

        public init(hidden: Int = 15, observationStd: Double = 0.5, observationNoise: Double = 0, lsqWindow: Int = 4) {
            self.hidden = hidden
            self.observationStd = observationStd
            self.observationNoise = observationNoise
            self.lsqWindow = lsqWindow
        }
    }

    /// The teacher of one sequence: W* [hidden, hidden] and C* [n, hidden], row-major.
    public struct Teacher: Equatable {
        public var transition: [Double]
        public var observation: [Double]
    }

    public var dimension: Int
    public var settings: Settings
    public var noise: Double
    public var stateClip: Double

    public init(dimension: Int = 5, settings: Settings = Settings(), noise: Double = 0.01, stateClip: Double = 10) {
        precondition(dimension > 0 && settings.hidden >= dimension,
                     "PartiallyObservedLDS: hidden size \(settings.hidden) below the observed size \(dimension)")
        self.dimension = dimension
        self.settings = settings
        self.noise = noise
        self.stateClip = stateClip
    }

    /// Drawn first from the sequence's stream: W*, then C*.
    public func teacher(stream: inout RandomStream) -> Teacher {
        let w = Linalg.haarOrthogonal(settings.hidden, stream: &stream)
        let c = (0..<(dimension * settings.hidden)).map { _ in settings.observationStd * stream.normal() }
        return Teacher(transition: w, observation: c)
    }

    /// The teacher, the hidden states h_1…h_count [count, hidden] and the observations
    /// s_1…s_count [count, n] of one sequence.
    public func trajectory(count: Int, stream: inout RandomStream) -> (teacher: Teacher, hidden: [Double], observed: [Double]) {
        let (m, n) = (settings.hidden, dimension)
        let teacher = teacher(stream: &stream)
        var h = [Double](repeating: 0, count: count * m)
        var s = [Double](repeating: 0, count: count * n)
        for t in 0..<count {
            for i in 0..<m {
                if t == 0 { h[i] = stream.uniform(-1, 1); continue }
                var x = noise * stream.normal()
                for j in 0..<m { x += teacher.transition[i * m + j] * h[(t - 1) * m + j] }
                h[t * m + i] = min(max(x, -stateClip), stateClip)
            }
            for i in 0..<n {
                var y = settings.observationNoise > 0 ? settings.observationNoise * stream.normal() : 0
                for j in 0..<m { y += teacher.observation[i * m + j] * h[t * m + j] }
                s[t * n + i] = y
            }
        }
        return (teacher, h, s)
    }

    public func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        trajectory(count: count, stream: &stream).observed
    }
}
