import MesaTensor

/// Task 1 of SPEC §1, the fully observed linear dynamical system:
/// W* ~ Haar-random orthogonal n×n (new for every sequence), s_1 ~ U(−1, 1)ⁿ,
/// s_{t+1} = W* s_t + ε_t with ε_t ~ N(0, σ² I), every state clipped to ±`stateClip`.
/// With `fixedTeacher` one W* (drawn from the seed alone) is shared by all sequences
/// (task 5, a memorization control).
///
/// `normals` picks the stream's normal sampler (`NormalSampler`): with `.vectorized` a
/// sequence's stream is read as teacher normals `vectorizedNormals(n²)`, then s_1 (n uniforms,
/// from the next whole block), then all noise normals `vectorizedNormals(n·T)` (from the next
/// whole block; z of step t, component i at (t − 1)·n + i). A shared teacher (task 5) is drawn
/// once by the default sampler either way.
public struct LinearDynamicalSystem: SequenceTask, Codable, Equatable {
    public var dimension: Int
    public var noise: Double
    public var stateClip: Double
    public var fixedTeacher: UInt64?
    public var normals: NormalSampler

    public init(dimension: Int = 10, noise: Double = 0.01, stateClip: Double = 10, fixedTeacher: UInt64? = nil,
                normals: NormalSampler = .boxMuller) {
        self.dimension = dimension
        self.noise = noise
        self.stateClip = stateClip
        self.fixedTeacher = fixedTeacher
        self.normals = normals
    }

    private enum CodingKeys: String, CodingKey { case dimension, noise, stateClip, fixedTeacher, normals }

    /// Encodings from before `normals` existed decode with the default sampler.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dimension = try c.decode(Int.self, forKey: .dimension)
        noise = try c.decode(Double.self, forKey: .noise)
        stateClip = try c.decode(Double.self, forKey: .stateClip)
        fixedTeacher = try c.decodeIfPresent(UInt64.self, forKey: .fixedTeacher)
        normals = try c.decodeIfPresent(NormalSampler.self, forKey: .normals) ?? .boxMuller
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
        if normals == .vectorized { return vectorizedSequence(count: count, stream: &stream) }
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

    /// `sequence` with the vectorized sampler (the reference of its fast batch): the same
    /// arithmetic, the normals drawn as the type's comment says.
    func vectorizedSequence(count: Int, stream: inout RandomStream) -> [Double] {
        let n = dimension
        let w: [Double]
        if fixedTeacher != nil {
            w = teacher(stream: &stream)
        } else {
            w = Linalg.qr(stream.vectorizedNormals(n * n), n).q
        }
        var s = [Double](repeating: 0, count: count * n)
        for i in 0..<n { s[i] = stream.uniform(-1, 1) }
        let z = stream.vectorizedNormals(n * max(count - 1, 0))
        for t in 1..<max(count, 1) {
            for i in 0..<n {
                var x = noise * z[(t - 1) * n + i]
                for j in 0..<n { x += w[i * n + j] * s[(t - 1) * n + j] }
                s[t * n + i] = min(max(x, -stateClip), stateClip)
            }
        }
        return s
    }
}
