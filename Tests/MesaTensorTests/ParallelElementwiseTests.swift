import Testing
import MesaTensor

/// The element-wise kernels cut tensors of at least `elementwiseGrain` elements per worker into
/// one chunk per worker: every element must still be the plain loop's, on any thread count.
@Suite struct ParallelElementwiseTests {
    /// Above the grain on 2 and 3 workers, odd so that chunks end off the vector width.
    static let count = 3 * elementwiseGrain + 13

    /// Bits of a Float32 tensor.
    func bits(_ t: Tensor) -> [UInt32] { t.withUnsafeBufferPointer(as: Float.self) { $0.map(\.bitPattern) } }

    func floats(_ t: Tensor) -> [Float] { t.withUnsafeBufferPointer(as: Float.self) { Array($0) } }

    @Test func everyKernelGivesThePlainLoopsBitsOnOneTwoAndThreeWorkers() {
        let a = randomTensor([Self.count], seed: 21, dtype: .float32, std: 2)
        let b = randomTensor([Self.count], seed: 22, dtype: .float32, std: 2)
        let (av, bv) = (floats(a), floats(b))
        // The plain loops, element by element, as the math reads.
        let clipRef = av.map { Swift.min(Swift.max($0, -1.5), 1.5) }
        let reference: [String: [Float]] = [
            "+": zip(av, bv).map { $0 + $1 }, "-": zip(av, bv).map { $0 - $1 }, "*": zip(av, bv).map { $0 * $1 },
            "scale": av.map { Float(0.3) * $0 }, "clip": clipRef,
            "clipBackward": zip(bv, av).map { g, v in abs(v) < 1.5 ? g : 0 },
            "addScaled": zip(av, bv).map { $0 + Float(-0.7) * $1 },
            "gelu": av.map { geluValue($0) },
        ]
        for workers in [1, 2, 3] {
            Parallel.withWorkers(workers) {
                var sum = a
                sum.addScaled(b, -0.7)                          // a's storage is shared: a fresh buffer
                var owned = a + Tensor(zeros: a.shape, dtype: .float32)
                owned.addScaled(b, -0.7)                        // sole owner: in place
                let got: [String: Tensor] = [
                    "+": a + b, "-": a - b, "*": a * b, "scale": 0.3 * a, "clip": clip(a, 1.5),
                    "clipBackward": clipBackward(b, a, 1.5), "addScaled": sum, "gelu": gelu(a),
                ]
                for (name, t) in got {
                    #expect(bits(t) == reference[name]!.map(\.bitPattern), "\(name) on \(workers) workers")
                }
                #expect(bits(owned) == bits(sum), "in-place addScaled on \(workers) workers")
                #expect(floats(a) == av, "addScaled must not write into a shared operand")
            }
        }
    }

    @Test func addScaledInPlaceKeepsTheStorageAndSharedGetsItsOwn() {
        let a = randomTensor([Self.count], seed: 23, dtype: .float64)
        let b = randomTensor([Self.count], seed: 24, dtype: .float64)
        Parallel.withWorkers(2) {
            var owned = a + Tensor(zeros: a.shape, dtype: .float64)
            let before = owned.unsafeElements(as: Double.self)
            owned.addScaled(b, 2)
            #expect(owned.unsafeElements(as: Double.self) == before)
            var shared = a
            shared.addScaled(b, 2)
            #expect(!shared.sharesStorage(with: a))
            #expect(shared.doubles == zip(a.doubles, b.doubles).map { $0 + 2 * $1 })
            #expect(owned.doubles == shared.doubles)
        }
    }
}
