import Foundation
import Testing
import MesaLanguage
import MesaNN
import MesaTensor

@Suite struct KernelTests {
    @Test func crossEntropyMatchesTheFormulaAndStaysFiniteForHugeLogits() {
        let logits = randomTensor([3, 5, 256], seed: 1, std: 3)
        let targets: [Int32] = (0..<15).map { Int32(($0 * 37) % 256) }
        let rows = (0..<15).map { r in Array(logits.doubles[(r * 256)..<((r + 1) * 256)]) }
        let naive = naiveCrossEntropy(rows, targets: targets.map(Int.init))
        let fused = crossEntropyPerRow(logits, targets: targets)
        for (a, b) in zip(fused, naive) { #expect(abs(a - b) < 1e-12 * max(1, abs(b))) }
        let mean = softmaxCrossEntropy(Variable(logits), targets: targets).value.item
        #expect(abs(mean - naive.reduce(0, +) / 15) < 1e-12)
        let single = crossEntropyPerRow(logits.converted(to: .float32), targets: targets)
        for (a, b) in zip(single, naive) { #expect(abs(a - b) < 1e-4 * max(1, abs(b))) }
        // Shifting a row by 1000 changes nothing (the naive formula overflows there).
        let shifted = Tensor(shape: [1, 1, 256], rows[0].map { $0 + 1000 })
        #expect(abs(crossEntropyPerRow(shifted, targets: [targets[0]])[0] - naive[0]) < 1e-9)
        #expect(naiveCrossEntropy([rows[0].map { $0 + 1000 }], targets: [Int(targets[0])])[0].isNaN)
        let f32 = crossEntropyPerRow(shifted.converted(to: .float32), targets: [targets[0]])[0]
        #expect(f32.isFinite && abs(f32 - naive[0]) < 1e-2)
    }

    @Test func crossEntropyBackwardMatchesFiniteDifferences() {
        let logits = randomTensor([2, 3, 7], seed: 2, std: 2)
        let targets: [Int32] = [0, 6, 3, 3, 1, 5]
        let weights: [Double] = [1, 0, 2, 1, 0.5, 1]
        for w in [nil, weights] {
            let errors = GradCheck.relativeErrors([logits]) { v in softmaxCrossEntropy(v[0], targets: targets, weights: w) }
            #expect(errors[0] < 1e-7)
        }
    }

    @Test func embeddingIsAGatherWithAScatterAddBackward() {
        let table = randomTensor([11, 5], seed: 3)
        let ids: [Int32] = [3, 0, 3, 10, 3, 7]  // repeats: their gradients add up
        let out = embedTokens(Variable(table), ids: ids, batch: 2, length: 3)
        #expect(out.shape == [2, 3, 5])
        // The same as a one-hot matrix times the table.
        var oneHot = [Double](repeating: 0, count: 6 * 11)
        for (i, id) in ids.enumerated() { oneHot[i * 11 + Int(id)] = 1 }
        let product = matmul(Tensor(shape: [6, 11], oneHot), table)
        #expect(out.value.reshaped([6, 5]).relativeError(to: product) < 1e-15)
        let r = GradCheck.projection(for: [2, 3, 5])
        let errors = GradCheck.relativeErrors([table]) { v in dot(embedTokens(v[0], ids: ids, batch: 2, length: 3), r) }
        #expect(errors[0] < 1e-8)
    }

    /// The L2-normalized linear and mesa layers of the language models, fused, against a plain
    /// reference: projections, per-head q/‖q‖ and k/‖k‖, the core's Double reference, P.
    @Test func normalizedLinearAndMesaLayersMatchTheirReference() {
        for kind in [LayerKind.linear, .mesa] {
            let (b, t, d, h, dk) = (2, 9, 12, 3, 4)
            var initializer = ParameterInitializer(seed: 4, dtype: .float64)
            let spec = AttentionSpec(kind: kind, heads: h, forget: kind == .mesa ? 0.9 : 1, normalizeQueryKey: true)
            let attention = SelfAttention(spec: spec, width: d, queryKeyWidth: d, keySize: dk, valueSize: dk, initStd: 0.5,
                                          initializer: &initializer)
            if let lambda = attention.lambda { lambda.assign(Tensor(shape: [h], [0.5, 1, 3])) }
            let x = randomTensor([b, t, d], seed: 5)
            let fused = attention(Variable(x), queryKeyInput: Variable(x)).value
            func project(_ w: Variable) -> [Double] { linear(x, w.value).doubles }
            var q = project(attention.query), k = project(attention.key)
            for row in 0..<(b * t * h) {
                for vec in [0, 1] {
                    let s = (0..<dk).reduce(0.0) { acc, j in let e = vec == 0 ? q[row * dk + j] : k[row * dk + j]; return acc + e * e }
                    let norm = (s + headNormalizationEpsilon).squareRoot()
                    for j in 0..<dk { if vec == 0 { q[row * dk + j] /= norm } else { k[row * dk + j] /= norm } }
                }
            }
            let o = referenceAttention(spec, q: Tensor(shape: [b, t, h * dk], q), k: Tensor(shape: [b, t, h * dk], k),
                                       v: linear(x, attention.value.value), headParameters: attention.headParameters.map(\.value.doubles))
            let reference = linear(o, attention.projection.value)
            #expect(fused.relativeError(to: reference) < 1e-11, "\(kind)")
            let r = GradCheck.projection(for: [b, t, d])
            let errors = GradCheck.relativeErrors([x]) { v in dot(attention(v[0], queryKeyInput: v[0]), r) }
            #expect(errors[0] < 1e-6, "\(kind)")
        }
    }
}
