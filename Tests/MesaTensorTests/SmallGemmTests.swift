import Foundation
import Testing
import MesaTensor

/// One GEMM case: row-major C[m][n] (row stride ldc) = A[m][k] (lda) · op(B) + β·C, with
/// op(B) = B[k][n] (ldb) or B[n][k]ᵀ (ldb), α = 1 unless stated.
private struct GemmCase: CustomStringConvertible {
    var m: Int, n: Int, k: Int, transB: Bool, beta: Float, alpha: Float = 1
    var lda: Int, ldb: Int, ldc: Int
    var a: [Float], b: [Float], c: [Float]
    var description: String { "M \(m) N \(n) K \(k) transB \(transB) alpha \(alpha) beta \(beta) lda \(lda) ldb \(ldb) ldc \(ldc)" }

    /// Random entries in [−1, 1); with `zeros`, also exact +0 and −0 entries, a zero row of A,
    /// a zero column of op(B), −0 in C, tiny entries whose products round to ±0 and an element
    /// whose every product rounds to −0 (row 1 of A times column 1 of op(B)), so that
    /// the sign of zero sums (which an FMA chain from +0 and the final +0 or +C decide) is covered.
    init(m: Int, n: Int, k: Int, transB: Bool, beta: Float, alpha: Float = 1, pad: Int, zeros: Bool, seed: UInt64) {
        self.m = m; self.n = n; self.k = k; self.transB = transB; self.beta = beta; self.alpha = alpha
        lda = k + pad % 3; ldb = (transB ? k : n) + pad % 2 * 5; ldc = n + pad % 4
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Float(s >> 40) / Float(1 << 24) * 2 - 1
            guard zeros else { return u }
            if u > 0.55 { return 0 }
            if u < -0.75 { return -0.0 }
            if u > 0.3 { return u * 1e-25 }
            return u
        }
        a = (0..<(m * lda)).map { _ in next() }
        b = (0..<((transB ? n : k) * ldb)).map { _ in next() }
        c = (0..<(m * ldc)).map { _ in next() }
        if zeros {
            for p in 0..<k { a[p] = 0 }  // row 0 of A
            for p in 0..<k { if transB { b[p] = -0.0 } else { b[p * ldb] = -0.0 } }  // column 0 of op(B)
            for i in stride(from: 0, to: c.count, by: 3) { c[i] = -0.0 }
            // Element (1, 1): every product a negative number that rounds to −0, so its chain is −0.
            if m > 1 { for p in 0..<k { a[lda + p] = -(abs(next()) + 0.1) * 1e-30 } }
            if n > 1 { for p in 0..<k { let t = (abs(next()) + 0.1) * 1e-20; if transB { b[ldb + p] = t } else { b[p * ldb + 1] = t } } }
        }
        if beta == 0 { for i in stride(from: 1, to: c.count, by: 4) { c[i] = .nan } }  // never read when β = 0
    }

    func opB(_ p: Int, _ j: Int) -> Float { transB ? b[j * ldb + p] : b[p * ldb + j] }

    /// The plain reference: one FMA chain per element, k ascending, from +0; then +0 (β = 0) or
    /// +C (β = 1); C's padding columns untouched. (α = 1 only.)
    func chain() -> (c: [Float], negativeZeroChains: Int) {
        var out = c, negativeZeros = 0
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = 0
                for p in 0..<k { acc = acc.addingProduct(a[i * lda + p], opB(p, j)) }
                if acc == 0 && acc.sign == .minus { negativeZeros += 1 }
                out[i * ldc + j] = beta == 0 ? acc + 0 : acc + c[i * ldc + j]
            }
        }
        return (out, negativeZeros)
    }

    func openBLAS() -> [Float] {
        var out = c
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { cp in
            SmallGemm.openBLAS(transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                               b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
        } } }
        return out
    }

    func mesaKernel() -> [Float] {
        var out = c
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { cp in
            #expect(SmallGemm.run(transB: transB, m: m, n: n, k: k, a: ap.baseAddress!, lda: lda,
                                  b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc))
        } } }
        return out
    }

    func floatGemm() -> [Float] {
        var out = c
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { cp in
            Float.gemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                       b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
        } } }
        return out
    }

    var takenByMesa: Bool { SmallGemm.takes(transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta) }
}

/// Elements whose bit patterns differ (NaN payloads included).
private func bitDifferences(_ x: [Float], _ y: [Float]) -> Int {
    zip(x, y).reduce(0) { $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1) }
}

/// The cases: M 1…600 (multiples of the 8-row tile and not), N 1…300 (around the 16- and
/// 48-column groups and the models' widths 40, 120, 160, 240), K 1…256, both op(B), β 0 and 1,
/// strided lda/ldb/ldc, every other case with zeros. `count` cases drawn from a fixed sequence.
private func gemmCases(count: Int, seed: UInt64) -> [GemmCase] {
    let ms = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 129, 250, 500, 600]
    let ns = [1, 2, 5, 15, 16, 17, 31, 32, 33, 40, 47, 48, 49, 63, 96, 97, 120, 160, 200, 240, 256, 300]
    let ks = [1, 2, 5, 16, 20, 31, 32, 40, 63, 64, 100, 120, 160, 200, 240, 255, 256]
    var s = seed
    func pick(_ values: [Int]) -> Int {
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return values[Int((s >> 33) % UInt64(values.count))]
    }
    return (0..<count).map { i in
        GemmCase(m: pick(ms), n: pick(ns), k: pick(ks), transB: i % 2 == 1, beta: i / 2 % 2 == 0 ? 0 : 1,
                 pad: i, zeros: i / 4 % 2 == 1, seed: seed &+ UInt64(i))
    }
}

@Suite struct SmallGemmTests {
    /// gemm512.c against the plain FMA chain, bit for bit, on every case (any AVX-512 CPU).
    @Test(.enabled(if: SmallGemm.cpuHasAVX512)) func kernelIsOneFMAChainPerElement() {
        var negativeZeroChains = 0, checked = 0
        for g in gemmCases(count: 160, seed: 11) {
            let (reference, negativeZeros) = g.chain()
            negativeZeroChains += negativeZeros
            let d = bitDifferences(g.mesaKernel(), reference)
            #expect(d == 0, "\(g): \(d) elements differ from the FMA chain")
            checked += g.m * g.n
        }
        #expect(checked > 1_000_000)
        #expect(negativeZeroChains > 30, "the cases should produce −0 chains (tiny products), got \(negativeZeroChains)")
    }

    /// The claim SmallGemm rests on: gemm512.c gives OpenBLAS SkylakeX's bits for every call it
    /// takes; and Float.gemm (which routes) gives OpenBLAS's bits for every call, taken or not.
    @Test(.enabled(if: SmallGemm.cpuHasAVX512 && BLASKernels.coreName.lowercased() == "skylakex"))
    func sameBitsAsOpenBLAS() {
        var taken = 0, notTaken = 0
        for g in gemmCases(count: 400, seed: 12) {
            let blas = g.openBLAS()
            let routed = g.floatGemm()
            #expect(bitDifferences(routed, blas) == 0, "\(g): Float.gemm differs from cblas_sgemm")
            if g.takenByMesa {
                taken += 1
                let d = bitDifferences(g.mesaKernel(), blas)
                #expect(d == 0, "\(g): \(d) elements differ from cblas_sgemm")
            } else {
                notTaken += 1
            }
        }
        #expect(taken > 150 && notTaken > 50, "cases taken \(taken), not taken \(notTaken)")
        #expect(SmallGemm.enabled == (ProcessInfo.processInfo.environment["MESA_KERNELS"] != "portable"))
    }

    /// The models' own shapes (tiles of 500 and 37 rows; widths 40, hidden 160, [Q K V] 120):
    /// taken, and bit for bit OpenBLAS's.
    @Test(.enabled(if: SmallGemm.cpuHasAVX512 && BLASKernels.coreName.lowercased() == "skylakex"))
    func modelShapes() {
        let shapes: [(n: Int, k: Int, transB: Bool)] = [(120, 40, true), (40, 40, true), (40, 120, false),
                                                        (160, 40, true), (40, 160, true), (160, 40, false), (40, 160, false)]
        for (i, s) in shapes.enumerated() {
            for m in [500, 37] {
                for beta: Float in [0, 1] {
                    let g = GemmCase(m: m, n: s.n, k: s.k, transB: s.transB, beta: beta, pad: 0, zeros: i % 2 == 0,
                                     seed: UInt64(100 + i))
                    if m == 500 { #expect(g.takenByMesa, "\(g) should be taken") }
                    if g.takenByMesa { #expect(bitDifferences(g.mesaKernel(), g.openBLAS()) == 0, "\(g)") }
                }
            }
        }
    }

    /// A transposed B whose panel would pass 4 MiB (K 256 × N 4112) is refused by gemm512 and
    /// left to OpenBLAS by Float.gemm: same bits either way.
    @Test(.enabled(if: SmallGemm.cpuHasAVX512 && BLASKernels.coreName.lowercased() == "skylakex"))
    func widePanelFallsBackToOpenBLAS() {
        let g = GemmCase(m: 3, n: 4112, k: 256, transB: true, beta: 1, pad: 0, zeros: false, seed: 7)
        #expect(g.takenByMesa)
        var out = g.c
        let ran = g.a.withUnsafeBufferPointer { ap in g.b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { cp in
            SmallGemm.run(transB: true, m: g.m, n: g.n, k: g.k, a: ap.baseAddress!, lda: g.lda, b: bp.baseAddress!, ldb: g.ldb,
                          beta: g.beta, c: cp.baseAddress!, ldc: g.ldc)
        } } }
        #expect(!ran && bitDifferences(out, g.c) == 0, "refused, C untouched")
        #expect(bitDifferences(g.floatGemm(), g.openBLAS()) == 0)
        let narrower = GemmCase(m: 3, n: 4096, k: 256, transB: true, beta: 0, pad: 0, zeros: false, seed: 8)
        #expect(bitDifferences(narrower.mesaKernel(), narrower.openBLAS()) == 0)
    }

    /// Which calls go where: MESA_KERNELS=portable, no AVX-512 or other OpenBLAS kernels → OpenBLAS
    /// only; A transposed, α ≠ 1, β ∉ {0, 1}, K > 256 and OpenBLAS's small-kernel shapes → OpenBLAS.
    @Test func routing() {
        #expect(!SmallGemm.decide(kernels: "portable", avx512: true, openBLASCore: "SkylakeX"))
        #expect(SmallGemm.decide(kernels: nil, avx512: true, openBLASCore: "SkylakeX"))
        #expect(SmallGemm.decide(kernels: "auto", avx512: true, openBLASCore: "SKYLAKEX"))
        #expect(!SmallGemm.decide(kernels: nil, avx512: false, openBLASCore: "SkylakeX"))
        #expect(!SmallGemm.decide(kernels: nil, avx512: true, openBLASCore: "Haswell"))
        func takes(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float = 1, beta: Float = 0) -> Bool {
            SmallGemm.takes(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta)
        }
        #expect(takes(false, true, 500, 120, 40) && takes(false, false, 500, 40, 120, beta: 1))
        #expect(takes(false, true, 500, 40, 256) && !takes(false, true, 500, 40, 257))
        // Weight gradients (A transposed, B not): any K, α = 1, β 0 or 1; A and B both transposed: OpenBLAS.
        // only where OpenBLAS runs its large kernel (M·N·K > 100³; its small kernel's shapes stay on OpenBLAS).
        #expect(takes(true, false, 240, 40, 500) && takes(true, false, 40, 120, 209, beta: 1) && takes(true, false, 1, 1, 1_000_001))
        #expect(!takes(true, false, 40, 40, 500) && !takes(true, false, 40, 120, 208) && !takes(true, false, 1, 1, 1_000_000))
        #expect(!takes(true, true, 240, 40, 500) && !takes(true, false, 240, 40, 500, alpha: 2))
        #expect(!takes(true, false, 240, 40, 500, beta: 0.5) && !takes(true, false, 240, 40, 0) && !takes(true, false, 0, 40, 5000))
        #expect(!takes(false, true, 500, 120, 40, alpha: 2) && !takes(false, true, 500, 120, 40, beta: 0.5))
        #expect(!takes(false, true, 0, 120, 40) && !takes(false, true, 500, 120, 0))
        // OpenBLAS's small kernels: M·N·K ≤ 100³; for B transposed only with M·N ≤ 1200 and K ≥ 32.
        #expect(!takes(false, false, 600, 40, 40) && takes(false, false, 626, 40, 40))
        #expect(takes(false, true, 600, 40, 40) && !takes(false, true, 30, 40, 40) && takes(false, true, 30, 40, 31))
    }
}

// MARK: - Weight gradients: C = Aᵀ·B + β·C (A [K × M], B [K × N], row-major)

/// One weight-gradient case: row-major C[m][n] (ldc) = A[k][m]ᵀ (lda) · B[k][n] (ldb) + β·C, α = 1.
private struct TransposedACase: CustomStringConvertible {
    var m: Int, n: Int, k: Int, beta: Float
    var lda: Int, ldb: Int, ldc: Int
    var a: [Float], b: [Float], c: [Float]
    var description: String { "Aᵀ·B M \(m) N \(n) K \(k) beta \(beta) lda \(lda) ldb \(ldb) ldc \(ldc)" }

    /// Entries as GemmCase's: random in [−1, 1); with `zeros` also +0, −0, tiny entries (products
    /// rounding to ±0), a zero column 0 of A (row 0 of Aᵀ), a −0 column 0 of B, −0 in C and an
    /// element (1, 1) whose every product rounds to −0.
    init(m: Int, n: Int, k: Int, beta: Float, pad: Int, zeros: Bool, seed: UInt64) {
        self.m = m; self.n = n; self.k = k; self.beta = beta
        lda = m + pad % 3; ldb = n + pad % 2 * 5; ldc = n + pad % 4
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Float(s >> 40) / Float(1 << 24) * 2 - 1
            guard zeros else { return u }
            if u > 0.55 { return 0 }
            if u < -0.85 { return -0.0 }
            if u > 0.3 || u < -0.6 { return u * 1e-25 }
            return u
        }
        a = (0..<(k * lda)).map { _ in next() }
        b = (0..<(k * ldb)).map { _ in next() }
        c = (0..<(m * ldc)).map { _ in next() }
        if zeros {
            for p in 0..<k { a[p * lda] = 0; b[p * ldb] = -0.0 }
            for i in stride(from: 0, to: c.count, by: 3) { c[i] = -0.0 }
            if m > 1 && n > 1 {
                for p in 0..<k { a[p * lda + 1] = -(abs(next()) + 0.1) * 1e-30; b[p * ldb + 1] = (abs(next()) + 0.1) * 1e-20 }
            }
        }
        if beta == 0 { for i in stride(from: 1, to: c.count, by: 4) { c[i] = .nan } }  // never read when β = 0
    }

    /// The plain reference of OpenBLAS's order: K cut into `blocks` (lengths, in order); per block
    /// one FMA chain from +0 over its k ascending, then C = sum + C (C starts as +0 when β = 0).
    /// `blocks` nil: one chain over K, then acc + C (β = 1) or acc itself (β = 0).
    func reference(blocks: [Int]?) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                func chain(_ range: Range<Int>) -> Float {
                    var acc: Float = 0
                    for p in range { acc = acc.addingProduct(a[p * lda + i], b[p * ldb + j]) }
                    return acc
                }
                guard let blocks else {
                    let acc = chain(0..<k)
                    out[i * ldc + j] = beta == 0 ? acc : acc + c[i * ldc + j]
                    continue
                }
                var sum: Float = beta == 0 ? 0 : c[i * ldc + j], p0 = 0
                for length in blocks {
                    sum = chain(p0..<(p0 + length)) + sum
                    p0 += length
                }
                out[i * ldc + j] = sum
            }
        }
        return out
    }

    /// C after `product(A, B, C)` on a copy of this case's C.
    func result(_ product: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var out = c
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { cp in
            product(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
        } } }
        return out
    }

    func openBLAS() -> [Float] {
        result { a, b, c in
            SmallGemm.openBLAS(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                               beta: beta, c: c, ldc: ldc)
        }
    }

    func mesaKernel(blockQ: Int? = nil) -> [Float] {
        result { a, b, c in
            SmallGemm.runTransposedA(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, blockQ: blockQ)
        }
    }

    func floatGemm() -> [Float] {
        result { a, b, c in
            Float.gemm(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
        }
    }

    /// OpenBLAS's order for this shape: its large kernel's K blocks when M·N·K > 100³, else nil.
    var openBLASBlocks: [Int]? { Double(m) * Double(n) * Double(k) > 1_000_000 ? levelThreeBlocks(k, q: 448, unroll: 16) : nil }
}

/// OpenBLAS's level-3 driver's K blocks (driver/level3/level3.c), written out: while K is left,
/// take q if at least 2q are left, all if at most q, else half of what is left rounded up to `unroll`.
private func levelThreeBlocks(_ k: Int, q: Int, unroll: Int) -> [Int] {
    var blocks: [Int] = [], left = k
    while left > 0 {
        let length = left >= 2 * q ? q : left <= q ? left : (left / 2 + unroll - 1) / unroll * unroll
        blocks.append(length)
        left -= length
    }
    return blocks
}

/// K across OpenBLAS's block boundaries (448, 896, 1344 and the halving between), M and N around
/// the 8-row and 16/48-column tiles and the models' widths, β 0 and 1, strided, zeros every other pair.
private func transposedACases(count: Int, seed: UInt64) -> [TransposedACase] {
    let ks = [1, 2, 31, 255, 256, 257, 384, 447, 448, 449, 463, 464, 465, 499, 500, 512, 513, 640, 767, 768,
              895, 896, 897, 912, 913, 1000, 1345]
    let ms = [1, 3, 8, 9, 17, 40, 47, 80, 120, 160, 240]
    let ns = [1, 5, 16, 17, 40, 49, 80, 97, 160, 300]
    var s = seed
    func pick(_ values: [Int]) -> Int {
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return values[Int((s >> 33) % UInt64(values.count))]
    }
    return (0..<count).map { i in
        TransposedACase(m: pick(ms), n: pick(ns), k: i < ks.count ? ks[i] : pick(ks), beta: i % 2 == 0 ? 1 : 0,
                        pad: i, zeros: i / 2 % 2 == 1, seed: seed &+ UInt64(i))
    }
}

@Suite struct SmallGemmTransposedATests {
    /// The block rule itself, on the lengths it must give (GEMM_Q 448, unroll 16).
    @Test func blockRule() {
        #expect(levelThreeBlocks(448, q: 448, unroll: 16) == [448])
        #expect(levelThreeBlocks(449, q: 448, unroll: 16) == [224, 225])
        #expect(levelThreeBlocks(500, q: 448, unroll: 16) == [256, 244])
        #expect(levelThreeBlocks(512, q: 448, unroll: 16) == [256, 256])
        #expect(levelThreeBlocks(513, q: 448, unroll: 16) == [256, 257])
        #expect(levelThreeBlocks(895, q: 448, unroll: 16) == [448, 447])
        #expect(levelThreeBlocks(896, q: 448, unroll: 16) == [448, 448])
        #expect(levelThreeBlocks(1000, q: 448, unroll: 16) == [448, 288, 264])
        #expect(SmallGemm.kBlock(m: 240, n: 40, k: 500) == 448 && SmallGemm.kBlock(m: 40, n: 40, k: 500) == 0)
        #expect(SmallGemm.kBlockUnroll == 16)
    }

    /// gemm512.c's transposed-A tiles against the plain reference of the order they are given
    /// (OpenBLAS's blocks or one chain), bit for bit (any AVX-512 CPU).
    @Test(.enabled(if: SmallGemm.cpuHasAVX512)) func kernelFollowsTheBlockOrder() {
        var checked = 0, negativeZeros = 0
        for g in transposedACases(count: 80, seed: 21) {
            let blocks = g.openBLASBlocks
            let reference = g.reference(blocks: blocks)
            let d = bitDifferences(g.mesaKernel(), reference)
            #expect(d == 0, "\(g), blocks \(blocks.map { "\($0)" } ?? "one chain"): \(d) elements differ from the reference")
            negativeZeros += reference.filter { $0 == 0 && $0.sign == .minus }.count
            checked += g.m * g.n
        }
        #expect(checked > 200_000)
        #expect(negativeZeros > 50, "the cases should give −0 results, got \(negativeZeros)")
    }

    /// The claim: for every weight-gradient shape, OpenBLAS SkylakeX's bits are those of its block
    /// order (large kernel) or its one chain (small kernel), and gemm512.c and Float.gemm give them.
    /// The other order (blocks ↔ one chain) must differ in many cases, or the cases would not tell.
    @Test(.enabled(if: SmallGemm.cpuHasAVX512 && BLASKernels.coreName.lowercased() == "skylakex"))
    func sameBitsAsOpenBLAS() {
        var blocked = 0, oneChain = 0, otherOrderDiffers = 0
        for g in transposedACases(count: 120, seed: 22) {
            let blas = g.openBLAS()
            let blocks = g.openBLASBlocks
            if blocks == nil { oneChain += 1 } else { blocked += 1 }
            let d = bitDifferences(g.mesaKernel(), blas)
            #expect(d == 0, "\(g), blocks \(blocks.map { "\($0)" } ?? "one chain"): \(d) elements differ from cblas_sgemm")
            #expect(bitDifferences(g.floatGemm(), blas) == 0, "\(g): Float.gemm differs from cblas_sgemm")
            #expect(bitDifferences(g.reference(blocks: blocks), blas) == 0, "\(g): the reference differs from cblas_sgemm")
            if bitDifferences(g.mesaKernel(blockQ: blocks == nil ? 448 : 0), blas) > 0 { otherOrderDiffers += 1 }
        }
        #expect(blocked > 30 && oneChain > 20, "cases blocked \(blocked), one chain \(oneChain)")
        #expect(otherOrderDiffers > 30, "the other order differed in only \(otherOrderDiffers) cases")
    }

    /// The models' weight gradients (tiles of 500 rows and a last tile of 37; β = 1) and a
    /// whole-batch one (β = 0, K 6400): taken exactly when M·N·K > 100³, and bit for bit OpenBLAS's.
    @Test(.enabled(if: SmallGemm.cpuHasAVX512 && BLASKernels.coreName.lowercased() == "skylakex"))
    func modelShapes() {
        let shapes: [(m: Int, n: Int)] = [(240, 40), (120, 40), (40, 80), (40, 40), (40, 160), (160, 40)]
        for (i, s) in shapes.enumerated() {
            for k in [500, 37] {
                let g = TransposedACase(m: s.m, n: s.n, k: k, beta: 1, pad: 0, zeros: i % 2 == 0, seed: UInt64(200 + i))
                #expect(SmallGemm.takes(transA: true, transB: false, m: g.m, n: g.n, k: g.k, alpha: 1, beta: 1)
                        == (k == 500 && s.m * s.n > 40 * 40), "\(g)")
                #expect(bitDifferences(g.mesaKernel(), g.openBLAS()) == 0, "\(g)")
            }
        }
        let whole = TransposedACase(m: 40, n: 40, k: 6400, beta: 0, pad: 1, zeros: false, seed: 300)
        #expect(whole.openBLASBlocks == Array(repeating: 448, count: 13) + [288, 288] && whole.openBLASBlocks?.reduce(0, +) == 6400)
        #expect(bitDifferences(whole.mesaKernel(), whole.openBLAS()) == 0, "\(whole)")
        #expect(bitDifferences(whole.floatGemm(), whole.openBLAS()) == 0, "\(whole)")
    }
}
