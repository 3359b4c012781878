import Testing
import Numerics
import MesaTensor
import MesaTheory

@Suite struct StructureTests {
    /// The diagonal initialization is exactly one step of GD with s = ab (ZHENG.md item 1).
    @Test func diagonalModelIsOneStepGD() throws {
        let data = try ARSequenceSet(ARProcess(dimension: 3, length: 15, initialToken: .gaussian(sigma: 1)),
                                     count: 3, seed: 6, purpose: .testBatch)
        let model = try LinearCausalAttention.diagonal(dimension: 3, a: 0.7, b: 0.4)
        #expect(abs(model.ab - 0.28) < 1e-15)
        for n in 0..<3 {
            let x = data.tokens(n)
            let y = model.predictions(tokens: x)
            let gd = OneStepGD.predictions(tokens: x, dimension: 3, stepSize: 0.28)
            #expect(maxAbsDifference(y, gd) <= 1e-12 * maxModulus(gd))
            #expect(maxModulus(gd) > 0.1)
        }
    }

    /// Gradient entries outside diag(a) (block (2,1) of W^{KQ}) and diag(b) (block (1,1) of W^{PV}).
    func outsideStructure(_ g: LossAndGradient, d: Int) -> Double {
        var m = 0.0
        for r in 0..<(2 * d) { for c in 0..<(2 * d) where !(r == d + c) { m = max(m, g.keyQuery[r * 2 * d + c].length) } }
        for r in 0..<d { for c in 0..<(2 * d) where r != c { m = max(m, g.projectionValue[r * 2 * d + c].length) } }
        return m
    }

    /// Untied diagonals a_j, b_j: the structure the expected gradient keeps.
    func untiedDiagonal(d: Int) throws -> LinearCausalAttention {
        var model = try LinearCausalAttention.diagonal(dimension: d, a: 0, b: 0)
        for j in 0..<d {
            model.keyQuery[(d + j) * 2 * d + j] = Complex(0.3 + 0.1 * Double(j), 0.05)
            model.projectionValue[j * 2 * d + j] = Complex(0.8 - 0.1 * Double(j), -0.02)
        }
        return model
    }

    /// On the symmetry orbit the full-batch gradient keeps the diagonal structure to rounding, and so
    /// does gradient descent; on an i.i.d. set of the same size it does not.
    @Test func symmetryOrbitKeepsTheDiagonalStructure() throws {
        let d = 3
        let process = ARProcess(dimension: d, length: 10, initialToken: .gaussian(sigma: 1))
        let orbit = try ARSequenceSet(process, count: 4, seed: 1, purpose: .trainingBatch).symmetryOrbit()
        #expect(orbit.count == 4 * 3 * 8)
        let iid = try ARSequenceSet(process, count: orbit.count, seed: 1, purpose: .trainingBatch)
        let model = try untiedDiagonal(d: d)
        let symmetric = FullBatchObjective(orbit).lossAndGradient(model)
        let plain = FullBatchObjective(iid).lossAndGradient(model)
        #expect(outsideStructure(symmetric, d: d) <= 1e-13 * symmetric.maxModulus)
        #expect(outsideStructure(plain, d: d) >= 1e-3 * plain.maxModulus)
        let run = try GradientDescent(stepSize: 1e-3, steps: 20).run(from: model, on: FullBatchObjective(orbit))
        #expect(run.model.outsideStructureMax <= 1e-13)
        #expect(abs(run.model.ab - model.ab) > 1e-3)
    }

    /// The sparse token keeps the block diagonals exactly, sequence by sequence: every entry that pairs
    /// two coordinates gets an exact zero gradient (the blocks' diagonals may move).
    @Test func sparseGradientIsBlockDiagonalExactly() throws {
        let d = 4
        let data = try ARSequenceSet(ARProcess(dimension: d, length: 12, initialToken: .sparse(scale: 1)),
                                     count: 30, seed: 2, purpose: .trainingBatch)
        let model = try untiedDiagonal(d: d)
        for g in [FullBatchObjective(data).lossAndGradient(model), model.referenceLossAndGradient(on: data)] {
            var offDiagonal = 0.0
            for r in 0..<(2 * d) { for c in 0..<(2 * d) where r % d != c % d { offDiagonal = max(offDiagonal, g.keyQuery[r * 2 * d + c].length) } }
            for r in 0..<d { for c in 0..<(2 * d) where r != c % d { offDiagonal = max(offDiagonal, g.projectionValue[r * 2 * d + c].length) } }
            #expect(offDiagonal == 0)
            #expect(g.maxModulus > 1e-2)
        }
    }

    /// Beyond the data condition (full-one) the gradient pairs coordinates at once.
    @Test func fullOneGradientLeavesTheDiagonals() throws {
        let d = 3
        let data = try ARSequenceSet(ARProcess(dimension: d, length: 12, initialToken: .fullOne),
                                     count: 200, seed: 3, purpose: .trainingBatch)
        let model = try LinearCausalAttention.diagonal(dimension: d, a: 0.5, b: 1.5)
        let g = FullBatchObjective(data).lossAndGradient(model)
        var stepped = model
        for i in stepped.keyQuery.indices { stepped.keyQuery[i] -= g.keyQuery[i].multiplied(by: 1e-3) }
        for i in stepped.projectionValue.indices { stepped.projectionValue[i] -= g.projectionValue[i].multiplied(by: 1e-3) }
        #expect(stepped.offDiagonalShare > 1e-6)
        var projected = stepped
        projected.projectDiagonalBlocks()
        #expect(projected.offDiagonalMax == 0 && projected.offDiagonalShare == 0)
        #expect(projected.a == stepped.a && projected.b == stepped.b)
    }
}
