import MesaTensor

// Layer normalization over the last axis (SPEC §2's pre-LN blocks):
//   y = γ ⊙ x̂ + β,  x̂ = (x − μ) / √(σ² + ε),  μ, σ² the mean and variance of the row.
// Backward: dx = (1/√(σ²+ε)) (ĝ − mean(ĝ) − x̂ mean(ĝ ⊙ x̂)) with ĝ = γ ⊙ dy;
// dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.

public let layerNormEpsilon = 1e-5

/// Forward: y and the saved (x̂, 1/√(σ²+ε) per row).
public func layerNormForward(_ x: Tensor, gain: Tensor, bias: Tensor?) -> (y: Tensor, xHat: Tensor, invStd: Tensor) {
    let (rows, width) = x.matrixShape
    precondition(gain.shape == [width] && (bias?.shape ?? [width]) == [width],
                 "layerNorm: gain \(gain.shape) / bias \(bias?.shape ?? []) for width \(width)")
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor) {
        var xHat = Tensor(uninitializedShape: x.shape, dtype: S.dtype)
        var invStd = Tensor(uninitializedShape: [rows], dtype: S.dtype)
        let zero = Tensor(zeros: [width], dtype: S.dtype)
        let y = Tensor(shape: x.shape, of: S.self) { yp in
            x.withUnsafeBufferPointer(as: S.self) { xp in
            gain.withUnsafeBufferPointer(as: S.self) { gp in
            (bias ?? zero).withUnsafeBufferPointer(as: S.self) { bp in
            xHat.withUnsafeMutableBufferPointer(as: S.self) { hp in
            invStd.withUnsafeMutableBufferPointer(as: S.self) { sp in
                Parallel.forChunks(rows, grain: 256) { range in
                    for r in range {
                        let o = r * width
                        var mean: S = 0
                        for i in 0..<width { mean += xp[o + i] }
                        mean /= S(width)
                        var variance: S = 0
                        for i in 0..<width { let d = xp[o + i] - mean; variance += d * d }
                        variance /= S(width)
                        let inv = 1 / (variance + S(layerNormEpsilon)).squareRoot()
                        sp[r] = inv
                        for i in 0..<width {
                            let h = (xp[o + i] - mean) * inv
                            hp[o + i] = h
                            yp[o + i] = gp[i] * h + bp[i]
                        }
                    }
                }
            }}}}}
        }
        return (y, xHat, invStd)
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Backward: (dx, dγ, dβ). dγ and dβ are sums over rows in `Parallel.reductionParts`
/// fixed parts.
public func layerNormBackward(_ dy: Tensor, xHat: Tensor, invStd: Tensor, gain: Tensor) -> (dx: Tensor, dGain: Tensor, dBias: Tensor) {
    let (rows, width) = dy.matrixShape
    let parts = Parallel.reductionParts
    let ranges = Parallel.split(rows, parts: parts)
    func run<S: TensorScalar>(_: S.Type) -> (Tensor, Tensor, Tensor) {
        var partial = [S](repeating: 0, count: parts * 2 * width)
        let dx = Tensor(shape: dy.shape, of: S.self) { dxp in
            dy.withUnsafeBufferPointer(as: S.self) { gp in
            xHat.withUnsafeBufferPointer(as: S.self) { hp in
            invStd.withUnsafeBufferPointer(as: S.self) { sp in
            gain.withUnsafeBufferPointer(as: S.self) { wp in
            partial.withUnsafeMutableBufferPointer { pp in
                Parallel.forEach(parts) { p in
                    let dGain = pp.baseAddress! + p * 2 * width, dBias = dGain + width
                    for r in ranges[p] {
                        let o = r * width
                        var meanG: S = 0, meanGH: S = 0
                        for i in 0..<width {
                            let gh = wp[i] * gp[o + i]
                            meanG += gh
                            meanGH += gh * hp[o + i]
                            dGain[i] += gp[o + i] * hp[o + i]
                            dBias[i] += gp[o + i]
                        }
                        meanG /= S(width)
                        meanGH /= S(width)
                        for i in 0..<width {
                            dxp[o + i] = sp[r] * (wp[i] * gp[o + i] - meanG - hp[o + i] * meanGH)
                        }
                    }
                }
            }}}}}
        }
        var dGain = [S](repeating: 0, count: width), dBias = dGain
        for p in 0..<parts {
            for i in 0..<width {
                dGain[i] += partial[p * 2 * width + i]
                dBias[i] += partial[p * 2 * width + width + i]
            }
        }
        return (dx, Tensor(shape: [width], dGain), Tensor(shape: [width], dBias))
    }
    return dy.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Differentiable layer normalization with learned gain (and optional bias).
public func layerNorm(_ x: Variable, gain: Variable, bias: Variable?) -> Variable {
    let (y, xHat, invStd) = layerNormForward(x.value, gain: gain.value, bias: bias?.value)
    let inputs = [x, gain] + (bias.map { [$0] } ?? [])
    return Variable(y, inputs: inputs) { g in
        let d = layerNormBackward(g, xHat: xHat, invStd: invStd, gain: gain.value)
        return [d.dx, d.dGain] + (bias == nil ? [] : [d.dBias])
    }
}
