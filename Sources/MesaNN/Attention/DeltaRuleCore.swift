import MesaTensor
import RealModule

// The delta rule (DeltaNet; Schlag et al. 2021, Yang et al. 2024), per head:
//   k̂_t = k_t / √(‖k_t‖² + ε),   β_t = σ(b_t)   (b_t = w_β,hᵀ x_t: the extra projection),
//   S_t = S_{t−1} − β_t (S_{t−1} k̂_t − v_t) k̂_tᵀ,   S_0 = 0,   out_t = S_t q_t.
// Each step is one gradient step, with step size β_t, on ½‖S k̂_t − v_t‖²: an online
// gradient descent on the in-context least-squares loss that the mesa-layer minimizes
// exactly (SPEC §2) and that linear attention takes one step on from S = 0 for every
// token at once. It sits between the two. Keys are L2-normalized inside the core so that
// β_t ∈ (0, 1) makes I − β_t k̂_t k̂_tᵀ a contraction whatever the input's scale.
//
// Backward, with G_t = ∂L/∂S_t (accumulated from t = T down) and e_t = S_{t−1} k̂_t − v_t:
//   G_t += dO_t q_tᵀ,   dq_t = S_tᵀ dO_t,
//   dv_t = β_t G_t k̂_t,   dβ_t = −e_tᵀ G_t k̂_t,   dk̂_t = −β_t (G_tᵀ e_t + S_{t−1}ᵀ G_t k̂_t),
//   G_{t−1} = G_t (I − β_t k̂_t k̂_tᵀ),
//   db_t = dβ_t β_t (1 − β_t),   dk_t = (dk̂_t − k̂_t (k̂_tᵀ dk̂_t)) / ‖k_t‖_ε.
// The backward re-runs the forward, keeping every S_t (T·d_v·d_k per head, in scratch),
// rather than inverting I − β k̂ k̂ᵀ to walk the states backwards (ill-conditioned as β → 1).

/// The delta rule: a fast-weight matrix updated by one gradient step per token (see above).
public struct DeltaRuleCore: AttentionCore {
    public static let name = "delta"
    public static let summary = "delta rule: S_t = S_{t−1} − β_t (S_{t−1} k̂_t − v_t) k̂_tᵀ, out_t = S_t q_t (β_t = σ(w_βᵀ x_t))"
    public static var extraProjection: ExtraProjection? { ExtraProjection(name: "W_beta", widthPerHead: 1) }

    public init(_ spec: AttentionSpec) {}

    /// The panels of one head: all states S_0…S_T [T+1][d_v][dkp], the normalized keys
    /// [T][dkp] with their norms, β, the errors e [T][d_v], G [d_v][dkp] and row vectors.
    struct Panels<S: TensorScalar> {
        let states: UnsafeMutablePointer<S>, keys: UnsafeMutablePointer<S>, norms: UnsafeMutablePointer<S>
        let beta: UnsafeMutablePointer<S>, errors: UnsafeMutablePointer<S>, g: UnsafeMutablePointer<S>
        let q: UnsafeMutablePointer<S>, dkHat: UnsafeMutablePointer<S>, dOut: UnsafeMutablePointer<S>
        let gk: UnsafeMutablePointer<S>

        static func count(length t: Int, keySize dk: Int, valueSize dv: Int) -> Int {
            let dkp = roundUp8(dk), dvp = roundUp8(dv)
            return (t + 1) * dv * dkp + t * dkp + 2 * roundUp8(t) + t * dvp + dv * dkp + 2 * dkp + 2 * dvp + 10 * 8
        }

        @inline(__always)
        init(_ scratch: UnsafeMutablePointer<S>, length t: Int, keySize dk: Int, valueSize dv: Int) {
            let dkp = roundUp8(dk), dvp = roundUp8(dv)
            var c = PanelCarver(scratch)
            states = c.panel((t + 1) * dv * dkp); keys = c.panel(t * dkp); norms = c.panel(t); beta = c.panel(t)
            errors = c.panel(t * dvp); g = c.panel(dv * dkp)
            q = c.panel(dkp); dkHat = c.panel(dkp); dOut = c.panel(dvp); gk = c.panel(dvp)
        }
    }

    public func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        Panels<Double>.count(length: length, keySize: keySize, valueSize: valueSize)
    }

    /// Runs the recursion; with `keepStates`, S_t goes to slot t (S_0 = 0 in slot 0), else
    /// slot 0 holds the running state. Writes out_t = S_t q_t when `out` is given.
    @inline(__always)
    func recursion<S: TensorScalar>(_ h: HeadView<S>, _ p: Panels<S>, keepStates: Bool,
                                    out: UnsafeMutablePointer<S>?, outStride: Int) {
        let (t, dk, dv) = (h.length, h.keySize, h.valueSize)
        let dkp = roundUp8(dk), stateSize = dv * dkp, dvp = roundUp8(dv)
        for i in 0..<stateSize { p.states[i] = 0 }
        for i in dk..<dkp { p.q[i] = 0 }
        for step in 0..<t {
            let kh = p.keys + step * dkp, kRow = h.k + step * h.qkStride
            var sq: S = 0
            for j in 0..<dk { sq += kRow[j] * kRow[j] }
            let norm = (sq + S(headNormalizationEpsilon)).squareRoot()
            for j in 0..<dk { kh[j] = kRow[j] / norm }
            for j in dk..<dkp { kh[j] = 0 }
            let beta = 1 / (1 + tensorExp(-h.extra[step * h.extraStride]))
            p.norms[step] = norm
            p.beta[step] = beta
            for j in 0..<dk { p.q[j] = h.q[step * h.qkStride + j] }
            let previous = p.states + (keepStates ? step * stateSize : 0)
            let current = p.states + (keepStates ? (step + 1) * stateSize : 0)
            let vRow = h.v + step * h.vStride, e = p.errors + step * dvp
            for i in 0..<dv {
                let from = previous + i * dkp, to = current + i * dkp
                var uv = Vec<S>()
                for c in stride(from: 0, to: dkp, by: 8) { uv = uv.addingProduct(loadVec(from + c), loadVec(kh + c)) }
                e[i] = uv.sum() - vRow[i]
                let minusC = Vec<S>(repeating: -beta * e[i])
                var ov = Vec<S>()
                for c in stride(from: 0, to: dkp, by: 8) {
                    let sv = loadVec(from + c).addingProduct(minusC, loadVec(kh + c))
                    storeVec(sv, to + c)
                    ov = ov.addingProduct(sv, loadVec(p.q + c))
                }
                let o = ov.sum()
                if let out { out[step * outStride + i] = o }
            }
        }
    }

    @inline(__always)
    public func forward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                         outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>) {
        let p = Panels(scratch, length: h.length, keySize: h.keySize, valueSize: h.valueSize)
        recursion(h, p, keepStates: false, out: out, outStride: outStride)
    }

    @inline(__always)
    public func backward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                          doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                          scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?) {
        let (t, dk, dv) = (h.length, h.keySize, h.valueSize)
        let dkp = roundUp8(dk), dvp = roundUp8(dv), stateSize = dv * dkp
        let p = Panels(scratch, length: t, keySize: dk, valueSize: dv)
        recursion(h, p, keepStates: true, out: nil, outStride: 0)
        for i in 0..<stateSize { p.g[i] = 0 }
        for i in 0..<dvp { p.gk[i] = 0 }
        for step in stride(from: t - 1, through: 0, by: -1) {
            let kh = p.keys + step * dkp, beta = p.beta[step], e = p.errors + step * dvp
            let current = p.states + (step + 1) * stateSize, previous = p.states + step * stateSize
            for j in 0..<dk { p.q[j] = h.q[step * h.qkStride + j] }
            for i in 0..<dv { p.dOut[i] = dOut[step * doutStride + i] }
            // dq = S_tᵀ dO;  G += dO qᵀ   (dq accumulates in dkHat, then is copied out)
            for c in stride(from: 0, to: dkp, by: 8) { storeVec(Vec<S>(), p.dkHat + c) }
            for i in 0..<dv {
                let sRow = current + i * dkp, gRow = p.g + i * dkp, d = Vec<S>(repeating: p.dOut[i])
                for c in stride(from: 0, to: dkp, by: 8) {
                    storeVec(loadVec(p.dkHat + c).addingProduct(loadVec(sRow + c), d), p.dkHat + c)
                    storeVec(loadVec(gRow + c).addingProduct(d, loadVec(p.q + c)), gRow + c)
                }
            }
            let dq = grad.q + step * grad.qkStride
            for j in 0..<dk { dq[j] = p.dkHat[j] }
            // Gk = G k̂;  dv = β Gk;  dβ = −eᵀ Gk
            var dBeta: S = 0
            for i in 0..<dv {
                let gRow = p.g + i * dkp
                var sv = Vec<S>()
                for c in stride(from: 0, to: dkp, by: 8) { sv = sv.addingProduct(loadVec(gRow + c), loadVec(kh + c)) }
                let s = sv.sum()
                p.gk[i] = s
                grad.v[step * grad.vStride + i] = beta * s
                dBeta -= e[i] * s
            }
            // dk̂ = −β (Gᵀ e + S_{t−1}ᵀ Gk);  G ← G − β Gk k̂ᵀ
            for c in stride(from: 0, to: dkp, by: 8) { storeVec(Vec<S>(), p.dkHat + c) }
            for i in 0..<dv {
                let gRow = p.g + i * dkp, sRow = previous + i * dkp
                let ei = Vec<S>(repeating: e[i]), gki = Vec<S>(repeating: p.gk[i]), minusC = Vec<S>(repeating: -beta * p.gk[i])
                for c in stride(from: 0, to: dkp, by: 8) {
                    let gv = loadVec(gRow + c)
                    storeVec(loadVec(p.dkHat + c).addingProduct(gv, ei).addingProduct(loadVec(sRow + c), gki), p.dkHat + c)
                    storeVec(gv.addingProduct(minusC, loadVec(kh + c)), gRow + c)
                }
            }
            // Through the normalization and the sigmoid.
            var dot: S = 0
            for j in 0..<dk { dot += kh[j] * p.dkHat[j] }
            let dk_ = grad.k + step * grad.qkStride, inverseNorm = 1 / p.norms[step]
            for j in 0..<dk { dk_[j] = (-beta * p.dkHat[j] + beta * kh[j] * dot) * inverseNorm }
            grad.extra[step * grad.extraStride] = dBeta * beta * (1 - beta)
        }
    }

    /// The recursion as written, in Double.
    public func reference(_ head: HeadSequence, parameters: [Double]) -> [[Double]] {
        let dk = head.k.first?.count ?? 0, dv = head.v.first?.count ?? 0
        var state = [[Double]](repeating: [Double](repeating: 0, count: dk), count: dv)   // S [d_v][d_k]
        return (0..<head.length).map { t in
            let norm = (dotRows(head.k[t], head.k[t]) + headNormalizationEpsilon).squareRoot()
            let k = head.k[t].map { $0 / norm }
            let beta = 1 / (1 + Double.exp(-head.extra[t][0]))
            for i in 0..<dv {
                let error = dotRows(state[i], k) - head.v[t][i]       // (S k̂ − v)_i
                for j in 0..<dk { state[i][j] -= beta * error * k[j] }
            }
            return (0..<dv).map { i in dotRows(state[i], head.q[t]) }
        }
    }
}
