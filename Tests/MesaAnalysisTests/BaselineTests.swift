import Testing
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor

func states(batch: Int = 6, length: Int = 12, n: Int = 4, seed: UInt64 = 1) -> StateSequences {
    let b = LinearDynamicalSystem(dimension: n).batch(size: batch, length: length, seed: seed, purpose: .testBatch,
                                                       dtype: .float64)
    return StateSequences(inputs: b.inputs, targets: b.targets)
}

@Suite struct BaselineTests {
    @Test func gradientStepDirectionIsTheDoubleSum() {
        let s = states()
        let d = Baselines.gradientStepDirection(s)
        for b in 0..<s.batch {
            for t in 1...s.length {
                for i in 0..<s.dimension {
                    var ref = 0.0  // Σ_{t'≤t} s_{t'} (s_{t'−1}ᵀ s_t)
                    for tp in 1...t {
                        let dot = (0..<s.dimension).map { s.state(b, tp - 1, $0) * s.state(b, t, $0) }.reduce(0, +)
                        ref += s.state(b, tp, i) * dot
                    }
                    #expect(abs(d[(b * s.length + t - 1) * s.dimension + i] - ref) < 1e-12)
                }
            }
        }
    }

    @Test func lineSearchMinimizes() {
        let s = states()
        let d = Baselines.gradientStepDirection(s)
        let eta = Baselines.lineSearch(direction: d, targets: s.targets)
        func loss(_ e: Double) -> Double { s.loss(of: d.map { e * $0 }).reduce(0, +) }
        #expect(loss(eta) < loss(eta * 1.01) && loss(eta) < loss(eta * 0.99))
    }

    @Test func ridgeSolvesTheNormalEquations() {
        let s = states(batch: 2, length: 15, n: 3)
        let lambda = 0.05
        let pred = Baselines.ridge(s, lambda: lambda)
        let n = 3
        for b in 0..<2 {
            for t in [1, 2, 7, 15] {
                // Φ̂ = A (G + λI)⁻¹ from the sums written out; ŝ = Φ̂ s_t.
                var a = [Double](repeating: 0, count: n * n), g = Linalg.identity(n, scale: lambda)
                for tp in 1...t { for i in 0..<n { for j in 0..<n {
                    a[i * n + j] += s.state(b, tp, i) * s.state(b, tp - 1, j)
                    g[i * n + j] += s.state(b, tp - 1, i) * s.state(b, tp - 1, j)
                } } }
                let phi = Linalg.transpose(Linalg.solve(Linalg.transpose(g, n, n), Linalg.transpose(a, n, n), n, n)!, n, n)
                for i in 0..<n {
                    let ref = (0..<n).map { phi[i * n + $0] * s.state(b, t, $0) }.reduce(0, +)
                    #expect(abs(pred[(b * 15 + t - 1) * n + i] - ref) < 1e-9)
                }
            }
        }
        // With many noiseless observations ridge recovers the teacher: tiny late-position loss.
        let clean = LinearDynamicalSystem(dimension: 3, noise: 0).batch(size: 4, length: 20, seed: 2, purpose: .testBatch, dtype: .float64)
        let cs = StateSequences(inputs: clean.inputs, targets: clean.targets)
        #expect(cs.loss(of: Baselines.ridge(cs, lambda: 1e-6)).last! < 1e-8)
    }
}

/// [VO] Prop. 1 made concrete: a linear-1 model whose weights are set by hand as the
/// proposition says computes exactly GD-1; and RevAlg-1 reproduces any model whose head
/// products are multiples of the identity block by block.
@Suite struct PropositionOneTests {
    let n = 4

    func model() throws -> Transformer {
        let c = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear], heads: 2,
                            keySize: 2 * n, initStd: 0)
        return try Transformer(config: c, seed: 0, dtype: .float64)
    }

    /// Head h of the model realizes scores [[a, b], [e, g]] ⊗ I over (s_{t'}, s_{t'−1}) ×
    /// (s_t, s_{t−1}) and values p₁ s_{t'} + p₂ s_{t'−1} written into the prediction block.
    func setHeads(_ m: Transformer, _ heads: [RevAlgOne.Head]) {
        let attn = m.blocks[0].attention
        let d = 4 * n, dk = 2 * n
        var wq = [Double](repeating: 0, count: 2 * dk * d), wk = wq, wv = wq
        var p = [Double](repeating: 0, count: d * 2 * dk)
        for (h, c) in heads.enumerated() {
            for i in 0..<n {
                // Queries select [s_t, s_{t−1}] (token blocks 2, 3); keys map them through Mᵀ.
                wq[(h * dk + i) * d + 2 * n + i] = 1
                wq[(h * dk + n + i) * d + 3 * n + i] = 1
                wk[(h * dk + i) * d + 2 * n + i] = c.a      // key s_{t'} · query s_t
                wk[(h * dk + i) * d + 3 * n + i] = c.e      // key s_{t'−1} · query s_t
                wk[(h * dk + n + i) * d + 2 * n + i] = c.b  // key s_{t'} · query s_{t−1}
                wk[(h * dk + n + i) * d + 3 * n + i] = c.g  // key s_{t'−1} · query s_{t−1}
                wv[(h * dk + i) * d + 2 * n + i] = 1
                wv[(h * dk + n + i) * d + 3 * n + i] = 1
                p[i * 2 * dk + h * dk + i] = c.p1
                p[i * 2 * dk + h * dk + n + i] = c.p2
            }
        }
        attn.query.assign(Tensor(shape: [2 * dk, d], wq))
        attn.key.assign(Tensor(shape: [2 * dk, d], wk))
        attn.value.assign(Tensor(shape: [2 * dk, d], wv))
        attn.projection.assign(Tensor(shape: [d, 2 * dk], p))
    }

    func predictions(_ m: Transformer, _ s: StateSequences) -> [Double] {
        let inputs = Tensor(shape: [s.batch, s.length, s.dimension], s.inputs)
        return m(TokenConstruction.constructedMasked.tokens(from: inputs)).value.doubles
    }

    @Test func handSetWeightsComputeGDOne() throws {
        let m = try model()
        let eta = 0.037
        setHeads(m, [RevAlgOne.Head(a: 0, e: 1, b: 0, g: 0, p1: eta, p2: 0), RevAlgOne.Head(a: 0, e: 0, b: 0, g: 0, p1: 0, p2: 0)])
        let s = states(n: n)
        let gd = Baselines.gdOne(s, eta: eta)
        let model = predictions(m, s)
        #expect(zip(model, gd).allSatisfy { abs($0 - $1) < 1e-12 })
        let structure = PropositionOneStructure(HeadProducts.of(m.blocks[0].attention)[0], tokens: .constructedMasked, n: n)
        #expect(abs(structure.keyQueryBlockShare - 1) < 1e-12 && abs(structure.projectionValueBlockShare - 1) < 1e-12)
        #expect(abs(structure.keyQueryDiagonalShare - 1) < 1e-12 && abs(structure.stepSize - eta) < 1e-12)
    }

    @Test func revAlgOneReadsBackAnyBlockScalarModel() throws {
        let m = try model()
        var r = RandomStream(seed: 9, purpose: .experiment)
        let heads = (0..<2).map { _ in
            RevAlgOne.Head(a: r.normal(), e: r.normal(), b: r.normal(), g: r.normal(), p1: r.normal(), p2: r.normal())
        }
        setHeads(m, heads)
        let read = RevAlgOne(HeadProducts.of(m.blocks[0].attention), tokens: .constructedMasked, n: n)
        for (x, y) in zip(read.heads, heads) {
            // P W_V's blocks are p₁·I, p₂·I; W_KᵀW_Q's are a, e, b, g times I.
            #expect(abs(x.a - y.a) < 1e-12 && abs(x.e - y.e) < 1e-12 && abs(x.b - y.b) < 1e-12)
            #expect(abs(x.g - y.g) < 1e-12 && abs(x.p1 - y.p1) < 1e-12 && abs(x.p2 - y.p2) < 1e-12)
        }
        let s = states(n: n)
        let model = predictions(m, s), alg = read.predictions(s)
        let scale = model.map(abs).max()!
        #expect(zip(model, alg).allSatisfy { abs($0 - $1) < 1e-10 * scale })
    }
}
