import Testing
import MesaTasks
import MesaTensor

@Suite struct ContractingLDSTests {
    @Test func teachersHaveTheStatedSpectrum() {
        let task = ContractingLDS(dimension: 6, noise: 0)
        var places = Set<Int>()
        for index in 0..<30 {
            var stream = RandomStream(seed: 5, purpose: .trainingBatch, step: 1, index: index)
            let t = task.teacher(stream: &stream)
            #expect(t.eigenvalues.filter { $0 == 0.9 }.count >= 1)
            #expect(t.eigenvalues.allSatisfy { $0 >= 0.3 && $0 <= 0.9 })
            places.insert(t.eigenvalues.firstIndex(of: 0.9)!)
            // W U = U diag(λ): the columns of U are eigenvectors with eigenvalues λ.
            let wu = Linalg.matmul(t.transition, t.eigenvectors, 6, 6, 6)
            let scale = wu.map(abs).max()!
            for i in 0..<6 { for j in 0..<6 {
                #expect(abs(wu[i * 6 + j] - t.eigenvectors[i * 6 + j] * t.eigenvalues[j]) < 1e-9 * max(scale, 1))
            } }
        }
        #expect(places.count > 1)  // the fixed eigenvalue is permuted among the others
    }

    @Test func statesAreClippedAndDecay() {
        let loud = ContractingLDS(dimension: 5, settings: .init(clip: 2), noise: 3)
        let batch = loud.batch(size: 8, length: 40, seed: 1, purpose: .testBatch, dtype: .float64)
        let values = batch.inputs.doubles
        #expect(values.allSatisfy { abs($0) <= 2 })
        #expect(values.contains { abs($0) == 2 })  // the clip is reached, not merely respected
        // Without noise every eigenvalue ≤ 0.9 drives the state to zero.
        let quiet = ContractingLDS(dimension: 5, noise: 0)
        var stream = RandomStream(seed: 1, purpose: .testBatch, index: 0)
        let s = quiet.sequence(count: 400, stream: &stream)
        #expect(s.suffix(5).allSatisfy { abs($0) < 1e-6 })
    }
}
