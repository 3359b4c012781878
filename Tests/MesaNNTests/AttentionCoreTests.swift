import Testing
import MesaTensor
import MesaNN

/// Every registered attention core (SPEC §2) against its plain Double reference, and its
/// backward against finite differences. A new kind added to `AttentionKinds.registered` is
/// tested here without a line of its own.
@Suite struct AttentionCoreTests {
    struct Inputs {
        let spec: AttentionSpec
        let q: Tensor, k: Tensor, v: Tensor, extra: Tensor?
        let headParameters: [Tensor]
    }

    /// B sequences, H heads; queries and keys of unit-order norm (as a projected LayerNorm'd
    /// input gives); head parameters spread around their initial values.
    static func inputs(_ kind: String, batch: Int, length: Int, heads: Int, keySize: Int, valueSize: Int,
                       forget: Double = 1, seed: UInt64 = 1, form: AttentionForm = .automatic) -> Inputs {
        let core = AttentionKinds.core(named: kind)!
        let spec = AttentionSpec(kind: LayerKind(rawValue: kind), heads: heads, forget: forget, form: form)
        let scale = 1 / Double(keySize).squareRoot()
        let e = core.extraProjection?.widthPerHead ?? 0
        let parameters = core.headParameters.map { p in
            Tensor(shape: [heads], (0..<heads).map { p.initialValue * (1 + 0.5 * Double($0)) + (p.initialValue == 0 ? 0.1 : 0) })
        }
        return Inputs(spec: spec,
                      q: randomTensor([batch, length, heads * keySize], seed: seed, std: scale),
                      k: randomTensor([batch, length, heads * keySize], seed: seed + 1, std: scale),
                      v: randomTensor([batch, length, heads * valueSize], seed: seed + 2),
                      extra: e > 0 ? randomTensor([batch, length, heads * e], seed: seed + 3) : nil,
                      headParameters: parameters)
    }

    /// Every form a core may run in (ChunkedMix.swift; kinds with one form ignore it).
    static let forms: [AttentionForm] = [.quadratic, .chunked]

    @Test(arguments: AttentionKinds.names, forms)
    func forwardMatchesReference(kind: String, form: AttentionForm) {
        for (length, keySize, valueSize, forget) in [(50, 20, 20, 1.0), (13, 5, 9, 0.9), (1, 3, 4, 1.0), (70, 6, 5, 0.95)] {
            let x = Self.inputs(kind, batch: 3, length: length, heads: 2, keySize: keySize, valueSize: valueSize, forget: forget,
                                form: form)
            let ref = referenceAttention(x.spec, q: x.q, k: x.k, v: x.v, extra: x.extra,
                                         headParameters: x.headParameters.map(\.doubles))
            for dtype in [DType.float64, .float32] {
                let inputs = CausalAttentionInputs(x.spec, q: x.q.converted(to: dtype), k: x.k.converted(to: dtype),
                                                   v: x.v.converted(to: dtype), extra: x.extra?.converted(to: dtype),
                                                   headParameters: x.headParameters.map { $0.converted(to: dtype) })
                let fast = x.spec.core.batchForward(inputs, record: false).out
                let error = fast.relativeError(to: ref)
                #expect(error < (dtype == .float64 ? 1e-11 : 3e-5), "\(kind) \(form) T \(length) \(dtype): \(error)")
            }
        }
    }

    @Test(arguments: AttentionKinds.names, forms)
    func backwardMatchesFiniteDifferences(kind: String, form: AttentionForm) {
        for forget in [1.0, 0.8] {
            let x = Self.inputs(kind, batch: 2, length: 7, heads: 2, keySize: 3, valueSize: 2, forget: forget, seed: 4, form: form)
            let r = GradCheck.projection(for: x.v.shape)
            let all = [x.q, x.k, x.v] + (x.extra.map { [$0] } ?? []) + x.headParameters
            let errors = GradCheck.relativeErrors(all) { v in
                let e = x.extra == nil ? 0 : 1
                return dot(causalAttention(x.spec, v[0], v[1], v[2], extra: e == 1 ? v[3] : nil,
                                           headParameters: Array(v[(3 + e)...])), r)
            }
            for (i, e) in errors.enumerated() { #expect(e < 1e-6, "\(kind) \(form) γ \(forget) input \(i): \(e)") }
        }
    }

    /// Recording weights or vectors does not change the output, and recorded weights mix the
    /// values: out_t = Σ_{t'} A_{t,t'} v_{t'}.
    @Test(arguments: AttentionKinds.names.filter { AttentionKinds.core(named: $0)!.hasAttentionWeights }, forms)
    func recordedWeightsMixTheValues(kind: String, form: AttentionForm) {
        let x = Self.inputs(kind, batch: 2, length: 9, heads: 2, keySize: 4, valueSize: 3, forget: 0.9, form: form)
        let inputs = CausalAttentionInputs(x.spec, q: x.q, k: x.k, v: x.v, extra: x.extra, headParameters: x.headParameters)
        let (out, weights) = x.spec.core.batchForward(inputs, record: true)
        let w = unpaddedAttentionWeights(weights!)                                    // [B, H, T, T]
        for b in 0..<2 { for h in 0..<2 { for t in 0..<9 { for j in 0..<3 {
            let mixed = (0...t).map { w[b, h, t, $0] * x.v[b, $0, h * 3 + j] }.reduce(0, +)
            #expect(abs(mixed - out[b, t, h * 3 + j]) < 1e-12)
            for tp in (t + 1)..<9 { #expect(w[b, h, t, tp] == 0) }
        } } } }
    }
}

/// The delta rule's defining property: with β = 1 each step writes its value exactly
/// (S_t k̂_t = v_t), so orthonormal keys are recalled exactly from the final state.
@Suite struct DeltaRuleTests {
    @Test func storesOrthonormalAssociationsExactly() {
        let (t, d, dv) = (4, 6, 3)
        // Keys: scaled standard basis vectors (normalized inside the core), queries: the same keys at the end.
        var k = [Double](repeating: 0, count: t * d), q = k
        for i in 0..<t { k[i * d + i] = 2.5 }
        for i in 0..<t { q[i * d + (t - 1 - i)] = 1 }        // position i queries key t−1−i
        let v = randomTensor([1, t, dv], seed: 9)
        let spec = AttentionSpec(kind: .delta, heads: 1)
        let extra = Tensor(shape: [1, t, 1], repeating: 40, dtype: .float64)   // σ(40) = 1 − 4e-18: β = 1
        let out = spec.core.batchForward(CausalAttentionInputs(spec, q: Tensor(shape: [1, t, d], q), k: Tensor(shape: [1, t, d], k),
                                                               v: v, extra: extra), record: false).out
        // At the last position every key has been written: querying key t−1−i… only position
        // t−1 sees all of them; it queries key 0.
        // (Up to the ε of the key normalization: ‖k̂‖² = 1 − ε/‖k‖² = 1 − 1.6e-7 here.)
        for j in 0..<dv { #expect(abs(out[0, t - 1, j] - v[0, 0, j]) < 1e-6 * max(1, abs(v[0, 0, j]))) }
        // Earlier positions query keys not written yet (orthogonal to all written ones): zero.
        for i in 0..<(t / 2) { for j in 0..<dv { #expect(abs(out[0, i, j]) < 1e-9) } }
    }

    /// With β → 0 nothing is written.
    @Test func zeroStepSizeWritesNothing() {
        let spec = AttentionSpec(kind: .delta, heads: 2)
        let x = AttentionCoreTests.inputs("delta", batch: 2, length: 5, heads: 2, keySize: 3, valueSize: 2)
        let extra = Tensor(shape: [2, 5, 2], repeating: -800, dtype: .float64)
        let out = spec.core.batchForward(CausalAttentionInputs(spec, q: x.q, k: x.k, v: x.v, extra: extra), record: false).out
        #expect(out.doubles.allSatisfy { $0 == 0 })
    }
}
