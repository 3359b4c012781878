import Foundation
import MesaNN
import MesaTensor

/// Where the chunked form of a causal mix overtakes the quadratic one (issue 14, "Cost
/// curves"; ChunkedMix.swift): forward and backward of the whole-batch attention operation
/// (B 16, H 4, d_k = d_v 20, Float32), both forms forced, interleaved one call each per
/// repetition so that both see the same load. The measured crossover is the first T from which
/// the chunked form's median time is below the quadratic one's at every larger T measured; the
/// automatic rule `ChunkedMix.prefersChunked` is reported beside it.
public struct FormCrossover {
    public let kind: LayerKind
    public let lengths: [Int]
    /// Median seconds of forward + backward, [length] for each form.
    public let quadratic: [Double], chunked: [Double]

    public static let defaultLengths = [32, 48, 64, 80, 96, 112, 128, 160, 192, 256]

    public static func measure(kind: LayerKind, lengths: [Int] = defaultLengths, batch: Int = 16, heads: Int = 4,
                               keySize: Int = 20, repeats: Int = 7) -> FormCrossover {
        var quadratic: [Double] = [], chunked: [Double] = []
        for t in lengths {
            var stream = RandomStream(seed: 5, purpose: .experiment)
            let shape = [batch, t, heads * keySize]
            let q = Tensor.normal(shape: shape, std: 1 / Double(keySize).squareRoot(), dtype: .float32, stream: &stream)
            let k = Tensor.normal(shape: shape, std: 1 / Double(keySize).squareRoot(), dtype: .float32, stream: &stream)
            let v = Tensor.normal(shape: shape, std: 1, dtype: .float32, stream: &stream)
            let dOut = Tensor.normal(shape: shape, std: 1, dtype: .float32, stream: &stream)
            let parameters = kind == .mesa ? [Tensor(shape: [heads], repeating: 1, dtype: .float32)] : []
            func once(_ form: AttentionForm) -> Double {
                let spec = AttentionSpec(kind: kind, heads: heads, form: form)
                let inputs = CausalAttentionInputs(spec, q: q, k: k, v: v, headParameters: parameters)
                let start = DispatchTime.now().uptimeNanoseconds
                let (_, weights) = spec.core.batchForward(inputs, record: false)
                _ = spec.core.batchBackward(inputs, dOut: dOut, weights: weights)
                return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            }
            _ = once(.quadratic); _ = once(.chunked)
            var a: [Double] = [], b: [Double] = []
            for _ in 0..<repeats { a.append(once(.quadratic)); b.append(once(.chunked)) }
            quadratic.append(a.sorted()[repeats / 2])
            chunked.append(b.sorted()[repeats / 2])
        }
        return FormCrossover(kind: kind, lengths: lengths, quadratic: quadratic, chunked: chunked)
    }

    /// The first measured T from which the chunked form is faster at every larger T; nil if it
    /// never is.
    public var measuredCrossover: Int? {
        var result: Int?
        for i in lengths.indices.reversed() {
            guard chunked[i] < quadratic[i] else { break }
            result = lengths[i]
        }
        return result
    }

    /// The first measured T the automatic rule sends to the chunked form.
    public var ruleCrossover: Int? {
        lengths.first { ChunkedMix.prefersChunked(length: $0, keySize: 20, valueSize: 20, crossoverFactor: factor) }
    }

    /// The kind's κ.
    public var factor: Double {
        kind == .mesa ? ChunkedMix.mesaCrossoverFactor : ChunkedMix.crossoverFactor
    }

    /// The rule matches the measurement when it switches within one measured step of where
    /// the measurement does.
    public var matched: Bool {
        guard let m = measuredCrossover, let r = ruleCrossover,
              let i = lengths.firstIndex(of: m), let j = lengths.firstIndex(of: r) else { return false }
        return abs(i - j) <= 1
    }

    public var report: String {
        var lines = ["\(kind.rawValue): forward + backward (B 16, H 4, d_k = d_v 20, Float32), median ms, forms interleaved"]
        lines.append("  T          " + lengths.map { String(format: "%7d", $0) }.joined())
        lines.append("  quadratic  " + quadratic.map { String(format: "%7.2f", $0 * 1e3) }.joined())
        lines.append("  chunked    " + chunked.map { String(format: "%7.2f", $0 * 1e3) }.joined())
        lines.append("  chunked/quadratic " + zip(chunked, quadratic).map { String(format: "%.2f", $0 / $1) }.joined(separator: " "))
        let rule = "T > \(ChunkedMix.chunk) + \(factor)·2d_k·d_v/(d_k + d_v)"
        lines.append("  crossover measured at T \(measuredCrossover.map(String.init) ?? "none"), the rule (\(rule)) switches at T "
                     + "\(ruleCrossover.map(String.init) ?? "none") of those measured: " + (matched ? "matched" : "not matched")
                     + " (within one measured step)")
        return lines.joined(separator: "\n")
    }
}
