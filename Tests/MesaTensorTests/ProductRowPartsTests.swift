import Testing
import MesaTensor

/// Row-parallel products (`linear`, `linearBackwardInput`) cut their rows by the shape alone
/// (`productRowParts`), so their bits do not depend on the number of workers. Inside a
/// micro-batch's lane that number is 1 plus the idle lanes, which changes from moment to moment:
/// when the cut followed it, a 150-row read-out (n 10, k 40) ran whole or as two 75-row halves,
/// and OpenBLAS's small-matrix kernel gives the halves other bits (runs of full-mesa, hybrid-mesa
/// and softmax-7 at batch 12 differed from run to run).
@Suite struct ProductRowPartsTests {
    func bits(_ t: Tensor) -> [UInt64] { t.doubles.map(\.bitPattern) }

    /// How many elements of two bit patterns differ (a short failure message, not two arrays).
    func differing(_ a: [UInt64], _ b: [UInt64]) -> Int { a.count == b.count ? zip(a, b).filter { $0 != $1 }.count : max(a.count, b.count) }

    /// Inputs of a fixed seed, values of mixed sign and size.
    func values(_ shape: [Int], _ dtype: DType, seed: UInt64) -> Tensor {
        var state = seed
        let count = shape.reduce(1, *)
        let v = (0..<count).map { _ -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(Int64(bitPattern: state >> 11) % 2_000_003) / 1_000_003 - 0.5
        }
        return Tensor(shape: shape, v, dtype: dtype)
    }

    /// The shapes of the models' read-out and embedding at pieces of 3 and 4 sequences (T 50), a
    /// backward product whose small and large kernels differ (n 40, k 160, up to 156 rows), and a
    /// large one.
    static let shapes: [(rows: Int, inDim: Int, outDim: Int)] = [
        (150, 40, 10), (200, 40, 10), (150, 10, 40), (200, 160, 40), (3200, 40, 10), (12_800, 40, 240),
    ]

    @Test(arguments: [DType.float32, .float64])
    func linearHasTheSameBitsForAnyNumberOfWorkers(dtype: DType) {
        for (i, s) in Self.shapes.enumerated() {
            let x = values([s.rows, s.inDim], dtype, seed: UInt64(10 + i))
            let w = values([s.outDim, s.inDim], dtype, seed: UInt64(20 + i))
            let dy = values([s.rows, s.outDim], dtype, seed: UInt64(30 + i))
            let one = Parallel.withWorkers(1) { (bits(linear(x, w)), bits(linearBackwardInput(dy, w))) }
            for n in [2, 3, 5] {
                let many = Parallel.withWorkers(n) { (bits(linear(x, w)), bits(linearBackwardInput(dy, w))) }
                let forward = differing(many.0, one.0), backward = differing(many.1, one.1)
                #expect(forward == 0, "linear \(s), \(dtype): \(forward) of \(one.0.count) elements differ, \(n) workers against 1")
                #expect(backward == 0, "linearBackwardInput \(s), \(dtype): \(backward) of \(one.1.count) elements differ, \(n) workers against 1")
            }
        }
    }

    @Test func thePartsDependOnTheShapeAlone() {
        for rows in [1, 63, 150, 2501, 5002, 12_800, 1_000_000] {
            for (n, k) in [(10, 40), (40, 10), (240, 40), (40, 160), (1, 1)] {
                let parts = productRowParts(rows: rows, n: n, k: k)
                let again = Parallel.withWorkers(3) { productRowParts(rows: rows, n: n, k: k) }
                #expect(parts == again)
                // Contiguous, covering every row once, at most `productMaxParts`.
                #expect(parts.first?.lowerBound == 0 && parts.last?.upperBound == rows)
                #expect(zip(parts, parts.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect(parts.count <= productMaxParts)
                // A cut leaves every part above OpenBLAS's small-kernel bound (M·N·K ≤ 100³).
                if parts.count > 1 {
                    #expect(parts.allSatisfy { $0.count * n * k > 1_000_000 && $0.count >= rowGrain },
                            "rows \(rows), n \(n), k \(k): \(parts.map(\.count))")
                }
            }
        }
        #expect(productRowParts(rows: 150, n: 10, k: 40).count == 1)
        #expect(productRowParts(rows: 12_800, n: 240, k: 40).count == 16)
    }
}
