extension Tensor {
    /// Elements drawn i.i.d. from N(0, std²).
    public static func normal(shape: [Int], std: Double, dtype: DType, stream: inout RandomStream) -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Double](repeating: 0, count: n)
        for i in 0..<n { values[i] = std * stream.normal() }
        return Tensor(shape: shape, values, dtype: dtype)
    }

    /// Elements drawn i.i.d. from U[a, b).
    public static func uniform(shape: [Int], _ a: Double, _ b: Double, dtype: DType,
                               stream: inout RandomStream) -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Double](repeating: 0, count: n)
        for i in 0..<n { values[i] = stream.uniform(a, b) }
        return Tensor(shape: shape, values, dtype: dtype)
    }
}
