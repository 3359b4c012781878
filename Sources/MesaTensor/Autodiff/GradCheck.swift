/// Finite-difference check of reverse-mode gradients, in Double: the test every
/// differentiable operation passes (SPEC engineering standards).
public enum GradCheck {
    /// For a scalar function `f` of the `inputs`, returns for each input the relative error
    /// max|analytic − numeric| / max|numeric| between the gradient `backward()` computes and
    /// central differences with steps `eps` and `eps`/2, Richardson-extrapolated. Inputs are converted to Double first.
    public static func relativeErrors(_ inputs: [Tensor], eps: Double = 1e-6,
                                      _ f: ([Variable]) -> Variable) -> [Double] {
        let xs = inputs.map { $0.converted(to: .float64) }
        let leaves = xs.map { Variable($0, requiresGrad: true) }
        let loss = f(leaves)
        precondition(loss.value.count == 1, "GradCheck needs a scalar function, got shape \(loss.shape)")
        loss.backward()
        let analytic = zip(leaves, xs).map { leaf, x in leaf.grad ?? Tensor(zeros: x.shape, dtype: .float64) }
        return xs.indices.map { i in
            var numeric = [Double](repeating: 0, count: xs[i].count)
            var probe = xs
            let base = xs[i].doubles
            for j in 0..<xs[i].count {
                let x0 = base[j]
                func value(at x: Double) -> Double {
                    probe[i].withUnsafeMutableBufferPointer(as: Double.self) { $0[j] = x }
                    return f(probe.map { Variable($0) }).value.item
                }
                numeric[j] = richardson(eps) { h in (value(at: x0 + h) - value(at: x0 - h)) / (2 * h) }
                probe[i].withUnsafeMutableBufferPointer(as: Double.self) { $0[j] = x0 }
            }
            return analytic[i].relativeError(to: Tensor(shape: xs[i].shape, numeric))
        }
    }

    /// Richardson extrapolation of a central difference D(h) = f' + c h² + O(h⁴):
    /// (4 D(h/2) − D(h)) / 3 = f' + O(h⁴), so curvature of the function does not pass for an
    /// error of the gradient.
    static func richardson(_ h: Double, _ d: (Double) -> Double) -> Double {
        (4 * d(h / 2) - d(h)) / 3
    }

    /// A random projection Σ y ⊙ r that turns a tensor-valued operation into a scalar one,
    /// so that every output element's gradient is exercised.
    public static func projection(for shape: [Int], seed: UInt64 = 7) -> Tensor {
        var stream = RandomStream(seed: seed, purpose: .experiment)
        return Tensor.normal(shape: shape, std: 1, dtype: .float64, stream: &stream)
    }
}

extension GradCheck {
    /// The same check for a loss built from existing parameter leaves (a whole model):
    /// each Double parameter is perturbed in place, element by element, and restored.
    public static func relativeErrors(parameters: [Variable], eps: Double = 1e-6,
                                      _ loss: () -> Variable) -> [Double] {
        precondition(parameters.allSatisfy { $0.dtype == .float64 && $0.requiresGrad },
                     "GradCheck needs Double parameters that require gradients")
        for p in parameters { p.grad = nil }
        loss().backward()
        let analytic = parameters.map { $0.grad ?? Tensor(zeros: $0.shape, dtype: .float64) }
        return parameters.indices.map { i in
            let p = parameters[i]
            let base = p.value
            var numeric = [Double](repeating: 0, count: base.count)
            let values = base.doubles
            for j in 0..<base.count {
                func value(at x: Double) -> Double {
                    var t = base
                    t.withUnsafeMutableBufferPointer(as: Double.self) { $0[j] = x }
                    p.assign(t)
                    return loss().value.item
                }
                numeric[j] = richardson(eps) { h in (value(at: values[j] + h) - value(at: values[j] - h)) / (2 * h) }
            }
            p.assign(base)
            return analytic[i].relativeError(to: Tensor(shape: base.shape, numeric))
        }
    }
}
