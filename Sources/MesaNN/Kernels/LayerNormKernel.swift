import MesaTensor

// Layer normalization over the last axis (SPEC §2's pre-LN blocks):
//   y = γ ⊙ x̂ + β,  x̂ = (x − μ) / √(σ² + ε),  μ, σ² the mean and variance of the row.
// Backward: dx = (1/√(σ²+ε)) (ĝ − mean(ĝ) − x̂ mean(ĝ ⊙ x̂)) with ĝ = γ ⊙ dy;
// dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.

/// mesa's first choice of ε, kept as the default of configurations written before ε was a
/// field (`ModelConfig.layerNormEpsilon`); the reference code uses 1e-6.
public let layerNormEpsilon = 1e-5

/// Σ_i f(i) over a row of `n`, eight lanes at a time (`vector(i)` gives f(i…i+7)), the tail
/// with `scalar`. (A plain scalar sum does not vectorize: it would reorder the additions.)
@inline(__always)
func laneSum<S: TensorScalar>(_ n: Int, _ vector: (Int) -> Vec<S>, _ scalar: (Int) -> S) -> S {
    var acc = Vec<S>()
    var i = 0
    while i + 8 <= n { acc += vector(i); i += 8 }
    var total = acc.sum()
    while i < n { total += scalar(i); i += 1 }
    return total
}

/// Forward: y and the saved (x̂, 1/√(σ²+ε) per row).
public func layerNormForward(_ x: Tensor, gain: Tensor, bias: Tensor?,
                             epsilon: Double = layerNormEpsilon) -> (y: Tensor, xHat: Tensor, invStd: Tensor) {
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
                        let row = xp.baseAddress! + o
                        let mean = laneSum(width, { loadVecUnaligned(row + $0) }, { row[$0] }) / S(width)
                        let centre = Vec<S>(repeating: mean)
                        let variance = laneSum(width, { let d = loadVecUnaligned(row + $0) - centre; return d * d },
                                               { let d = row[$0] - mean; return d * d }) / S(width)
                        let inv = 1 / (variance + S(epsilon)).squareRoot()
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
                        let w = wp.baseAddress!, g = gp.baseAddress! + o, h = hp.baseAddress! + o
                        let meanG = laneSum(width, { loadVecUnaligned(w + $0) * loadVecUnaligned(g + $0) },
                                            { w[$0] * g[$0] }) / S(width)
                        let meanGH = laneSum(width, { loadVecUnaligned(w + $0) * loadVecUnaligned(g + $0) * loadVecUnaligned(h + $0) },
                                             { w[$0] * g[$0] * h[$0] }) / S(width)
                        for i in 0..<width {
                            dGain[i] += g[i] * h[i]
                            dBias[i] += g[i]
                        }
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
public func layerNorm(_ x: Variable, gain: Variable, bias: Variable?, epsilon: Double = layerNormEpsilon) -> Variable {
    let (y, xHat, invStd) = layerNormForward(x.value, gain: gain.value, bias: bias?.value, epsilon: epsilon)
    let inputs = [x, gain] + (bias.map { [$0] } ?? [])
    return Variable(y, inputs: inputs) { g in
        let d = layerNormBackward(g, xHat: xHat, invStd: invStd, gain: gain.value)
        return [d.dx, d.dGain] + (bias == nil ? [] : [d.dBias])
    }
}
