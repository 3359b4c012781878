import Foundation
import Testing
import MesaNN
import MesaTensor

/// The sinusoidal encoding's table-once form against the formula written per sequence
/// (issue 14, time to the first step, stop 10): the same bits in Float32 and Float64, for
/// even and odd widths, and values that are the formula's.
@Suite struct PositionalEncodingTests {
    static func model(_ dtype: DType) throws -> Transformer {
        let c = ModelConfig(dimension: 10, width: 40, embedding: true, layers: [.softmax], heads: 4, keySize: 10,
                            layerNorm: true, mlp: true, positionalEncoding: 40, initStd: 0.05)
        return try Transformer(config: c, seed: 0, dtype: dtype)
    }

    @Test(arguments: [DType.float32, .float64])
    func tableOnceIsTheFormulaBitForBit(dtype: DType) throws {
        let m = try Self.model(dtype)
        for (batch, length, width) in [(3, 50, 40), (2, 9, 7), (1, 1, 2), (4, 13, 16)] {
            let fast = m.sinusoidalEncoding(batch: batch, length: length, width: width)
            let reference = m.referenceSinusoidalEncoding(batch: batch, length: length, width: width)
            #expect(fast.shape == [batch, length, width] && fast.dtype == dtype)
            let a = fast.scalars(as: Double.self), b = reference.scalars(as: Double.self)
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(dtype) \(batch)×\(length)×\(width)")
            // Position 3 of the last sequence, pair 1: sin and cos of 3 / 10000^(2/width).
            if length > 3 && width >= 4 {
                let angle = 3 / pow(10000, 2 / Double(width)), row = ((batch - 1) * length + 3) * width
                let tolerance = dtype == .float32 ? 1e-7 : 1e-15
                #expect(abs(a[row + 2] - sin(angle)) < tolerance && abs(a[row + 3] - cos(angle)) < tolerance)
            }
        }
    }
}
