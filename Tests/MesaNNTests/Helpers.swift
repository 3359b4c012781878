import MesaTensor

func randomTensor(_ shape: [Int], seed: UInt64, dtype: DType = .float64, std: Double = 1) -> Tensor {
    var s = RandomStream(seed: seed, purpose: .experiment)
    return Tensor.normal(shape: shape, std: std, dtype: dtype, stream: &s)
}
