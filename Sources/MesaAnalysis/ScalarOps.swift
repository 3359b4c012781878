import MesaTensor

/// c·x for a learned scalar c ([1, 1]) and any x, from the differentiable `linear` op
/// (x reshaped to a column times cᵀ), so that the baselines' step sizes need no op of their own.
func scaled(_ x: Variable, by c: Variable) -> Variable {
    let shape = x.shape
    return reshaped(linear(reshaped(x, [x.value.count, 1]), c), shape)
}

/// A learned scalar as a [1, 1] Double leaf.
func scalarParameter(_ value: Double, dtype: DType = .float64) -> Variable {
    Variable(Tensor(shape: [1, 1], [value], dtype: dtype), requiresGrad: true)
}
