import Testing
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor

/// GD-1 through the reference architecture's activation clip (`Baselines.gdOneClipped`) is what a
/// linear-1 model whose weights implement GD-1 computes when its block output is clipped.
extension PropositionOneTests {
    @Test func handSetWeightsUnderTheClipComputeClippedGDOne() throws {
        let eta = 0.037
        let s = states(n: n)
        let plain = Baselines.gdOne(s, eta: eta)
        let clip = plain.map(abs).sorted()[plain.count * 3 / 4]  // binds on a quarter of the coordinates
        let c = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear], heads: 2,
                            keySize: 2 * n, activationClip: clip, initStd: 0)
        let m = try Transformer(config: c, seed: 0, dtype: .float64)
        setHeads(m, [RevAlgOne.Head(a: 0, e: 1, b: 0, g: 0, p1: eta, p2: 0), RevAlgOne.Head(a: 0, e: 0, b: 0, g: 0, p1: 0, p2: 0)])
        let clipped = Baselines.gdOneClipped(s, eta: eta, clip: clip)
        #expect(plain.filter { abs($0) > clip }.count > plain.count / 20, "the clip must bind for this test to say anything")
        #expect(zip(predictions(m, s), clipped).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(Baselines.gdOneClipped(s, eta: eta, clip: 1e9) == plain)
    }

    /// The line search through the clip is the closed form where the clip never binds, and where it
    /// binds no step size on a fine grid does better.
    @Test func theClippedLineSearchFindsTheBestStep() {
        let s = states(n: n)
        let d = Baselines.gradientStepDirection(s)
        let eta = Baselines.lineSearch(direction: d, targets: s.targets)
        let unbound = Baselines.clippedLineSearch(direction: d, targets: s.targets, clip: 1e9, around: eta)
        #expect(abs(unbound - eta) < 1e-7 * abs(eta), "\(unbound) vs \(eta)")
        let reach = Baselines.gdOne(s, eta: eta).map(abs).sorted()
        for clip in [reach[reach.count / 2], reach[reach.count * 9 / 10]] {
            func loss(_ e: Double) -> Double {
                zip(Baselines.clipped(d, eta: e, clip: clip), s.targets).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            }
            let found = Baselines.clippedLineSearch(direction: d, targets: s.targets, clip: clip, around: eta)
            let grid = (0...20_000).map { loss(16 * eta * Double($0) / 20_000) }.min()!
            #expect(loss(found) <= grid * (1 + 1e-9), "clip \(clip): η \(found) loss \(loss(found)) vs grid \(grid)")
        }
    }
}
