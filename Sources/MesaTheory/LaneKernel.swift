import Numerics

/// Four sequences side by side: one AVX2 register of Doubles per real or imaginary part.
typealias Lane = SIMD4<Double>

/// Up to `Lane.scalarCount` sequences with the same support J (the coordinates where x_1 ≠ 0), as
/// split re/im lanes over J; unused lanes hold `λ = 1, x_1 = 0`, whose tokens, loss and gradient are exactly 0.
struct LaneGroup {
    let support: [Int]
    let rotationRe: [Lane], rotationIm: [Lane]
    let initialRe: [Lane], initialIm: [Lane]

    init(support: [Int], sequences: [Int], data: ARSequenceSet) {
        precondition(sequences.count <= Lane.scalarCount)
        let d = data.process.dimension
        var rr = [Lane](repeating: Lane(repeating: 1), count: support.count)
        var ri = [Lane](repeating: .zero, count: support.count), xr = ri, xi = ri
        for (l, n) in sequences.enumerated() {
            for (i, j) in support.enumerated() {
                rr[i][l] = data.rotations[n * d + j].real
                ri[i][l] = data.rotations[n * d + j].imaginary
                xr[i][l] = data.initialTokens[n * d + j].real
                xi[i][l] = data.initialTokens[n * d + j].imaginary
            }
        }
        self.support = support
        rotationRe = rr
        rotationIm = ri
        initialRe = xr
        initialIm = xi
    }
}

/// The loss and gradient recurrence of `referenceLossAndGradient`, run on a `LaneGroup` in its compact
/// coordinates (index i < k = |J| is coordinate J[i] of `x_t`, i ≥ k is coordinate J[i−k] of `x_{t−1}`).
/// Per position t ≥ 2, with `S_t = E_tE_tᴴ`:
///
///     u = W^{KQ} e_t,  v = S_t u,  r = (W^{PV} v/(t−1) − x_{t+1})/(t−1),
///     ∇W^{PV} += r vᴴ,  g = W^{PV}ᴴ r,  w = S_t g,  ∇W^{KQ} += w e_tᴴ.
///
/// Since `x_t = Λ x_{t−1}` with `Λ = diag(λ)` unitary, three exact identities cut the time by a quarter:
/// - `S_t = [[Σ_t, ΛΣ_{t−1}], [Σ_{t−1}Λᴴ, Σ_{t−1}]]` with `Σ_t = Σ_{i≤t} x_i x_iᴴ` (k×k instead of 2k×2k), so
///   `S_t [u₁; u₂] = [Σ_{t−1}u₁ + x_t(x_tᴴu₁) + ΛΣ_{t−1}u₂ ; Σ_{t−1}(Λᴴu₁ + u₂)]`;
/// - `W^{KQ} e_t = (K₁ + K₂Λᴴ) x_t` for `W^{KQ} = [K₁ K₂]`;
/// - `Σ_t w_t e_tᴴ = [A, AΛ]` with `A = Σ_t w_t x_tᴴ`, as `x_{t−1}ᴴ = x_tᴴΛ`.
///
/// Every complex multiply-add is written as fused real ones on lanes; nothing is allocated per position.
/// One kernel (and its workspace) per thread.
final class LaneKernel {
    /// Sums over sequences of `‖ŷ_t − x_{t+1}‖²` and of the unnormalized gradient, in full coordinates.
    struct Sums {
        var loss = 0.0
        var keyQueryRe: [Double], keyQueryIm: [Double]
        var projectionValueRe: [Double], projectionValueIm: [Double]

        init(dimension d: Int) {
            keyQueryRe = [Double](repeating: 0, count: 4 * d * d)
            keyQueryIm = keyQueryRe
            projectionValueRe = [Double](repeating: 0, count: 2 * d * d)
            projectionValueIm = projectionValueRe
        }

        mutating func add(_ other: Sums) {
            loss += other.loss
            for i in keyQueryRe.indices { keyQueryRe[i] += other.keyQueryRe[i]; keyQueryIm[i] += other.keyQueryIm[i] }
            for i in projectionValueRe.indices {
                projectionValueRe[i] += other.projectionValueRe[i]
                projectionValueIm[i] += other.projectionValueIm[i]
            }
        }
    }

    /// Scratch memory sized for the largest group (k = d), as plain pointers so that the hot loops
    /// keep them in registers. Complex vectors are (re, im) pointer pairs.
    struct Workspace {
        let sigmaRe, sigmaIm: UnsafeMutablePointer<Lane>          // Σ_{t−1}, (k, k)
        let uRe, uIm, vRe, vIm, gRe, gIm, wRe, wIm: UnsafeMutablePointer<Lane>  // (2k)
        let zRe, zIm, aRe, aIm, bRe, bIm, cRe, cIm: UnsafeMutablePointer<Lane>  // (k) matvec operands and results
        let rRe, rIm: UnsafeMutablePointer<Lane>                  // (d), full coordinates
        let xRe, xIm, nextRe, nextIm: UnsafeMutablePointer<Lane>  // x_t, x_{t+1}: (k)
        let gradARe, gradAIm, gradPVRe, gradPVIm: UnsafeMutablePointer<Lane>  // A = Σ w x_tᴴ (2k, k); ∇W^{PV} (d, 2k)
        let kqRe, kqIm, pvRe, pvIm: UnsafeMutablePointer<Lane>    // K₁ + K₂Λᴴ (2k, k); W^{PV} (d, 2k), broadcast

        init(dimension d: Int) {
            let s = 2 * d
            func lanes(_ n: Int) -> UnsafeMutablePointer<Lane> {
                let p = UnsafeMutablePointer<Lane>.allocate(capacity: n)
                p.initialize(repeating: .zero, count: n)
                return p
            }
            sigmaRe = lanes(d * d); sigmaIm = lanes(d * d)
            uRe = lanes(s); uIm = lanes(s); vRe = lanes(s); vIm = lanes(s)
            gRe = lanes(s); gIm = lanes(s); wRe = lanes(s); wIm = lanes(s)
            zRe = lanes(d); zIm = lanes(d); aRe = lanes(d); aIm = lanes(d); bRe = lanes(d); bIm = lanes(d)
            cRe = lanes(d); cIm = lanes(d)
            rRe = lanes(d); rIm = lanes(d)
            xRe = lanes(d); xIm = lanes(d); nextRe = lanes(d); nextIm = lanes(d)
            gradARe = lanes(s * d); gradAIm = lanes(s * d); gradPVRe = lanes(d * s); gradPVIm = lanes(d * s)
            kqRe = lanes(s * d); kqIm = lanes(s * d); pvRe = lanes(d * s); pvIm = lanes(d * s)
        }

        func deallocate() {
            for p in [sigmaRe, sigmaIm, uRe, uIm, vRe, vIm, gRe, gIm, wRe, wIm, zRe, zIm, aRe, aIm, bRe, bIm, cRe, cIm,
                      rRe, rIm, xRe, xIm, nextRe, nextIm, gradARe, gradAIm, gradPVRe, gradPVIm, kqRe, kqIm, pvRe, pvIm] {
                p.deallocate()
            }
        }
    }

    let d: Int, length: Int
    let model: LinearCausalAttention
    private let workspace: Workspace

    init(model: LinearCausalAttention, length: Int) {
        d = model.dimension
        self.length = length
        self.model = model
        workspace = Workspace(dimension: d)
    }

    deinit { workspace.deallocate() }

    /// Adds the group's loss and gradient sums to `sums`.
    func accumulate(_ group: LaneGroup, into sums: inout Sums) {
        let ws = workspace
        let d = self.d, n = 2 * d, k = group.support.count, s = 2 * k
        let full = (0..<s).map { $0 < k ? group.support[$0] : d + group.support[$0 - k] }
        let lr = group.rotationRe, li = group.rotationIm
        // K₁ + K₂Λᴴ: column j is K[:, J[j]] + K[:, d + J[j]] conj(λ_j), per lane.
        for p in 0..<s {
            for j in 0..<k {
                let k1 = model.keyQuery[full[p] * n + full[j]], k2 = model.keyQuery[full[p] * n + full[k + j]]
                ws.kqRe[p * k + j] = Lane(repeating: k1.real) + Lane(repeating: k2.real) * lr[j] + Lane(repeating: k2.imaginary) * li[j]
                ws.kqIm[p * k + j] = Lane(repeating: k1.imaginary) + Lane(repeating: k2.imaginary) * lr[j] - Lane(repeating: k2.real) * li[j]
            }
        }
        for a in 0..<d {
            for q in 0..<s {
                let w = model.projectionValue[a * n + full[q]]
                ws.pvRe[a * s + q] = Lane(repeating: w.real); ws.pvIm[a * s + q] = Lane(repeating: w.imaginary)
            }
        }
        for p in [ws.sigmaRe, ws.sigmaIm] { p.update(repeating: .zero, count: k * k) }
        for p in [ws.gradARe, ws.gradAIm] { p.update(repeating: .zero, count: s * k) }
        for p in [ws.gradPVRe, ws.gradPVIm] { p.update(repeating: .zero, count: d * s) }
        for i in 0..<k { ws.xRe[i] = group.initialRe[i]; ws.xIm[i] = group.initialIm[i] }
        var loss = Lane.zero
        group.support.withUnsafeBufferPointer { support in
            lr.withUnsafeBufferPointer { lr in
                li.withUnsafeBufferPointer { li in
                    for t in 1..<length {
                        // x_{t+1} = λ ⊙ x_t
                        for i in 0..<k {
                            ws.nextRe[i] = (lr[i] * ws.xRe[i]).addingProduct(-li[i], ws.xIm[i])
                            ws.nextIm[i] = (lr[i] * ws.xIm[i]).addingProduct(li[i], ws.xRe[i])
                        }
                        if t >= 2 {
                            Self.position(t, d: d, k: k, support: support, lr: lr, li: li, ws: ws, loss: &loss)
                        }
                        // Σ_t = Σ_{t−1} + x_t x_tᴴ
                        for p in 0..<k {
                            let xr = ws.xRe[p], xi = ws.xIm[p]
                            for q in 0..<k {
                                ws.sigmaRe[p * k + q] = ws.sigmaRe[p * k + q].addingProduct(xr, ws.xRe[q]).addingProduct(xi, ws.xIm[q])
                                ws.sigmaIm[p * k + q] = ws.sigmaIm[p * k + q].addingProduct(xi, ws.xRe[q]).addingProduct(-xr, ws.xIm[q])
                            }
                        }
                        ws.xRe.update(from: ws.nextRe, count: k); ws.xIm.update(from: ws.nextIm, count: k)
                    }
                }
            }
        }
        sums.loss += loss.sum()
        for p in 0..<s {
            for j in 0..<k {
                // [A, AΛ]
                let ar = ws.gradARe[p * k + j], ai = ws.gradAIm[p * k + j]
                sums.keyQueryRe[full[p] * n + full[j]] += ar.sum()
                sums.keyQueryIm[full[p] * n + full[j]] += ai.sum()
                sums.keyQueryRe[full[p] * n + full[k + j]] += (ar * lr[j] - ai * li[j]).sum()
                sums.keyQueryIm[full[p] * n + full[k + j]] += (ar * li[j] + ai * lr[j]).sum()
            }
        }
        for a in 0..<d {
            for q in 0..<s {
                sums.projectionValueRe[a * n + full[q]] += ws.gradPVRe[a * s + q].sum()
                sums.projectionValueIm[a * n + full[q]] += ws.gradPVIm[a * s + q].sum()
            }
        }
    }

    /// `S_t y` for y = [y₁; y₂] (pointers to 2k lanes) into `out`, from Σ_{t−1} and x_t (see the type's notes).
    @inline(__always)
    private static func gramProduct(k: Int, yRe: UnsafeMutablePointer<Lane>, yIm: UnsafeMutablePointer<Lane>,
                                    outRe: UnsafeMutablePointer<Lane>, outIm: UnsafeMutablePointer<Lane>,
                                    lr: UnsafeBufferPointer<Lane>, li: UnsafeBufferPointer<Lane>, ws: Workspace) {
        // z = Λᴴ y₁ + y₂;  x_tᴴ y₁
        var dotRe = Lane.zero, dotIm = Lane.zero
        for j in 0..<k {
            let y1r = yRe[j], y1i = yIm[j]
            ws.zRe[j] = yRe[k + j].addingProduct(lr[j], y1r).addingProduct(li[j], y1i)
            ws.zIm[j] = yIm[k + j].addingProduct(lr[j], y1i).addingProduct(-li[j], y1r)
            dotRe = dotRe.addingProduct(ws.xRe[j], y1r).addingProduct(ws.xIm[j], y1i)
            dotIm = dotIm.addingProduct(ws.xRe[j], y1i).addingProduct(-ws.xIm[j], y1r)
        }
        // a = Σ y₁, b = Σ y₂, c = Σ z, one pass over Σ
        for p in 0..<k {
            var ar = Lane.zero, ai = Lane.zero, br = Lane.zero, bi = Lane.zero, cr = Lane.zero, ci = Lane.zero
            for q in 0..<k {
                let sr = ws.sigmaRe[p * k + q], si = ws.sigmaIm[p * k + q]
                ar = ar.addingProduct(sr, yRe[q]).addingProduct(-si, yIm[q])
                ai = ai.addingProduct(sr, yIm[q]).addingProduct(si, yRe[q])
                br = br.addingProduct(sr, yRe[k + q]).addingProduct(-si, yIm[k + q])
                bi = bi.addingProduct(sr, yIm[k + q]).addingProduct(si, yRe[k + q])
                cr = cr.addingProduct(sr, ws.zRe[q]).addingProduct(-si, ws.zIm[q])
                ci = ci.addingProduct(sr, ws.zIm[q]).addingProduct(si, ws.zRe[q])
            }
            // out₁ = a + x_t (x_tᴴ y₁) + Λ b;  out₂ = c
            let xr = ws.xRe[p], xi = ws.xIm[p]
            outRe[p] = ar.addingProduct(xr, dotRe).addingProduct(-xi, dotIm).addingProduct(lr[p], br).addingProduct(-li[p], bi)
            outIm[p] = ai.addingProduct(xr, dotIm).addingProduct(xi, dotRe).addingProduct(lr[p], bi).addingProduct(li[p], br)
            outRe[k + p] = cr
            outIm[k + p] = ci
        }
    }

    /// out = M x for a complex rows × columns matrix M (row-major, split re/im lanes).
    @inline(__always)
    private static func complexProduct(rows: Int, columns: Int, mRe: UnsafeMutablePointer<Lane>, mIm: UnsafeMutablePointer<Lane>,
                                       xRe: UnsafeMutablePointer<Lane>, xIm: UnsafeMutablePointer<Lane>,
                                       outRe: UnsafeMutablePointer<Lane>, outIm: UnsafeMutablePointer<Lane>) {
        for p in 0..<rows {
            var re = Lane.zero, im = Lane.zero
            for j in 0..<columns {
                let mr = mRe[p * columns + j], mi = mIm[p * columns + j]
                re = re.addingProduct(mr, xRe[j]).addingProduct(-mi, xIm[j])
                im = im.addingProduct(mr, xIm[j]).addingProduct(mi, xRe[j])
            }
            outRe[p] = re; outIm[p] = im
        }
    }

    /// Prediction, residual and gradient terms at position t ≥ 2 (Σ_{t−1}, x_t and x_{t+1} are current).
    @inline(__always)
    private static func position(_ t: Int, d: Int, k: Int, support: UnsafeBufferPointer<Int>,
                                 lr: UnsafeBufferPointer<Lane>, li: UnsafeBufferPointer<Lane>, ws: Workspace, loss: inout Lane) {
        let s = 2 * k
        let scale = Lane(repeating: 1 / Double(t - 1))
        // u = W^{KQ} e_t = (K₁ + K₂Λᴴ) x_t
        complexProduct(rows: s, columns: k, mRe: ws.kqRe, mIm: ws.kqIm, xRe: ws.xRe, xIm: ws.xIm, outRe: ws.uRe, outIm: ws.uIm)
        // v = S_t u
        gramProduct(k: k, yRe: ws.uRe, yIm: ws.uIm, outRe: ws.vRe, outIm: ws.vIm, lr: lr, li: li, ws: ws)
        // r = ŷ_t − x_{t+1} with ŷ_t = W^{PV} v / (t−1); the loss; then r ← r/(t−1)
        complexProduct(rows: d, columns: s, mRe: ws.pvRe, mIm: ws.pvIm, xRe: ws.vRe, xIm: ws.vIm, outRe: ws.rRe, outIm: ws.rIm)
        for a in 0..<d { ws.rRe[a] *= scale; ws.rIm[a] *= scale }
        for i in 0..<k { ws.rRe[support[i]] -= ws.nextRe[i]; ws.rIm[support[i]] -= ws.nextIm[i] }
        for a in 0..<d {
            loss = loss.addingProduct(ws.rRe[a], ws.rRe[a]).addingProduct(ws.rIm[a], ws.rIm[a])
            ws.rRe[a] *= scale; ws.rIm[a] *= scale
        }
        // ∇W^{PV} += r vᴴ
        for a in 0..<d {
            let rr = ws.rRe[a], ri = ws.rIm[a]
            for q in 0..<s {
                ws.gradPVRe[a * s + q] = ws.gradPVRe[a * s + q].addingProduct(rr, ws.vRe[q]).addingProduct(ri, ws.vIm[q])
                ws.gradPVIm[a * s + q] = ws.gradPVIm[a * s + q].addingProduct(ri, ws.vRe[q]).addingProduct(-rr, ws.vIm[q])
            }
        }
        // g = W^{PV}ᴴ r
        for q in 0..<s {
            var gr = Lane.zero, gi = Lane.zero
            for a in 0..<d {
                let pr = ws.pvRe[a * s + q], pi = ws.pvIm[a * s + q]
                gr = gr.addingProduct(pr, ws.rRe[a]).addingProduct(pi, ws.rIm[a])
                gi = gi.addingProduct(pr, ws.rIm[a]).addingProduct(-pi, ws.rRe[a])
            }
            ws.gRe[q] = gr; ws.gIm[q] = gi
        }
        // w = S_t g;  A += w x_tᴴ
        gramProduct(k: k, yRe: ws.gRe, yIm: ws.gIm, outRe: ws.wRe, outIm: ws.wIm, lr: lr, li: li, ws: ws)
        for p in 0..<s {
            let wr = ws.wRe[p], wi = ws.wIm[p]
            for j in 0..<k {
                ws.gradARe[p * k + j] = ws.gradARe[p * k + j].addingProduct(wr, ws.xRe[j]).addingProduct(wi, ws.xIm[j])
                ws.gradAIm[p * k + j] = ws.gradAIm[p * k + j].addingProduct(wi, ws.xRe[j]).addingProduct(-wr, ws.xIm[j])
            }
        }
    }
}
