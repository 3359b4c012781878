import Testing
import MesaTensor
import MesaNN

/// The fused attention sublayer against the composition of separate operations, and its
/// backward against finite differences.
@Suite struct AttentionLayerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let kind: LayerKind, batch: Int, length: Int, width: Int, peWidth: Int, heads: Int, keySize: Int, valueSize: Int
        var forget = 1.0, normalize = false
        var testDescription: String {
            "\(kind) B\(batch) T\(length) D\(width)+\(peWidth) H\(heads) dk\(keySize) dv\(valueSize) γ\(forget)\(normalize ? " normalized" : "")"
        }
    }

    static let cases: [Case] = [
        Case(kind: .linear, batch: 3, length: 50, width: 12, peWidth: 0, heads: 2, keySize: 20, valueSize: 20),
        Case(kind: .softmax, batch: 3, length: 50, width: 12, peWidth: 4, heads: 2, keySize: 20, valueSize: 20),
        Case(kind: .linear, batch: 25, length: 13, width: 7, peWidth: 2, heads: 3, keySize: 5, valueSize: 9),
        Case(kind: .softmax, batch: 2, length: 1, width: 6, peWidth: 0, heads: 1, keySize: 3, valueSize: 4),
        Case(kind: .softmax, batch: 45, length: 9, width: 5, peWidth: 0, heads: 2, keySize: 17, valueSize: 33),
        Case(kind: .mesa, batch: 3, length: 50, width: 12, peWidth: 0, heads: 2, keySize: 20, valueSize: 20),
        Case(kind: .mesa, batch: 13, length: 11, width: 7, peWidth: 2, heads: 3, keySize: 5, valueSize: 9, forget: 0.9),
        Case(kind: .mesa, batch: 3, length: 20, width: 8, peWidth: 0, heads: 2, keySize: 4, valueSize: 4, normalize: true),
        Case(kind: .linear, batch: 3, length: 20, width: 8, peWidth: 2, heads: 2, keySize: 4, valueSize: 4, normalize: true),
        Case(kind: .delta, batch: 3, length: 50, width: 12, peWidth: 0, heads: 2, keySize: 20, valueSize: 20),
        Case(kind: .delta, batch: 13, length: 11, width: 7, peWidth: 2, heads: 3, keySize: 5, valueSize: 9),
        Case(kind: .delta, batch: 3, length: 20, width: 8, peWidth: 0, heads: 2, keySize: 4, valueSize: 4, normalize: true),
    ]

    func layer(_ c: Case, dtype: DType) -> (SelfAttention, Tensor, Tensor) {
        var initializer = ParameterInitializer(seed: 1, dtype: dtype)
        let attn = SelfAttention(spec: AttentionSpec(kind: c.kind, heads: c.heads, forget: c.forget, normalizeQueryKey: c.normalize),
                                 width: c.width, queryKeyWidth: c.width + c.peWidth,
                                 keySize: c.keySize, valueSize: c.valueSize, initStd: 0.4, initializer: &initializer)
        let x = randomTensor([c.batch, c.length, c.width], seed: 2, dtype: dtype)
        let pe = randomTensor([c.batch, c.length, c.peWidth], seed: 3, dtype: dtype)
        return (attn, x, c.peWidth > 0 ? concatColumns([x, pe]) : x)
    }

    @Test(arguments: cases)
    func fusedMatchesComposed(_ c: Case) {
        for dtype in [DType.float64, .float32] {
            let (attn, x, qk) = layer(c, dtype: dtype)
            let xv = Variable(x, requiresGrad: true), qkv = Variable(qk, requiresGrad: true)
            let fused = attn(xv, queryKeyInput: qkv)
            let xr = Variable(x, requiresGrad: true), qkr = Variable(qk, requiresGrad: true)
            let reference = attn.composed(xr, queryKeyInput: qkr)
            let tol = dtype == .float64 ? 1e-12 : 2e-5
            #expect(fused.value.relativeError(to: reference.value) < tol, "forward \(dtype)")
            let r = randomTensor(fused.shape, seed: 4, dtype: dtype)
            var grads: [[Tensor]] = []
            for (out, inputs) in [(fused, [xv, qkv]), (reference, [xr, qkr])] {
                for p in attn.parameters(prefix: "") { p.variable.grad = nil }
                dot(out, r).backward()
                // With one input tensor for x and the query/key input, the fused kernel returns
                // the whole input gradient through x and none through the query/key input (nil: no
                // zero tensor is written); compare the sum.
                let zero = Tensor(zeros: x.shape, dtype: dtype)
                let inputGrads = c.peWidth == 0 ? [inputs[0].grad! + (inputs[1].grad ?? zero)] : inputs.map { $0.grad! }
                grads.append(inputGrads + attn.parameters(prefix: "").map { $0.variable.grad! })
            }
            for (i, (a, b)) in zip(grads[0], grads[1]).enumerated() {
                #expect(a.relativeError(to: b) < tol * 10, "gradient \(i) \(dtype): \(a.relativeError(to: b))")
            }
        }
    }

    /// Every registered kind, with and without normalized queries and keys (and the
    /// mesa-layer with forgetting).
    @Test func backwardMatchesFiniteDifferences() {
        let variants: [(LayerKind, Double, Bool)] = AttentionKinds.names.flatMap { name -> [(LayerKind, Double, Bool)] in
            [(LayerKind(rawValue: name), 1.0, false), (LayerKind(rawValue: name), 1.0, true)]
        } + [(LayerKind.mesa, 0.85, true)]
        for (kind, forget, normalize) in variants {
            let c = Case(kind: kind, batch: 2, length: 6, width: 5, peWidth: 2, heads: 2, keySize: 3, valueSize: 2,
                         forget: forget, normalize: normalize)
            let (attn, x, qk) = layer(c, dtype: .float64)
            let r = GradCheck.projection(for: [2, 6, 5])
            let params = attn.parameters(prefix: "").map(\.variable)
            let errors = GradCheck.relativeErrors([x, qk] + params.map(\.value)) { v in
                let extra = attn.extraProjection == nil ? 0 : 1
                return dot(attentionLayer(attn.spec, v[0], queryKeyInput: v[1], wq: v[2], wk: v[3], wv: v[4], p: v[5],
                                          extraWeight: extra == 1 ? v[6] : nil, headParameters: Array(v[(6 + extra)...])), r)
            }
            for (i, e) in errors.enumerated() { #expect(e < 1e-7, "\(c) input \(i): \(e)") }
        }
    }
}
