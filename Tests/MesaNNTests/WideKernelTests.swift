import CSupport
import Testing
import MesaTensor
import MesaNN

/// The AVX-512 score-core kernels (CSupport's scorecore512.c) against today's portable Swift
/// kernels, bit for bit: each kernel (products, softmax rows, panel gathers and scatters) alone and one head's forward and backward (linear and
/// softmax, weights kept or recomputed) on random inputs over lengths and widths that cover
/// every tail (T and d below, at and past multiples of 8 and 16), and the in-place (strided)
/// kernels of the AVX-512 head path against gather → panel kernel → scatter. The portable kernels are
/// checked against the plain Double references in AttentionCoreTests; equal bits carry that over.
@Suite(.enabled(if: ScoreKernels.available, "this CPU has no AVX-512"))
struct WideKernelTests {
    static let lengths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 64, 101]
    static let widths = [1, 7, 8, 16, 20, 24, 40]

    /// A 64-byte-aligned Float buffer filled with `fill`.
    final class Buffer {
        let p: UnsafeMutablePointer<Float>
        let count: Int
        init(_ count: Int, fill: Float = 0) {
            self.count = max(count, 1)
            p = UnsafeMutableRawPointer.allocate(byteCount: self.count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: self.count)
            p.initialize(repeating: fill, count: self.count)
        }
        deinit { p.deallocate() }
        var values: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
        func copy(from other: Buffer) { p.update(from: other.p, count: count) }
    }

    /// SplitMix64 draws, uniform in [−spread, spread).
    struct Draws {
        var state: UInt64
        mutating func next(_ spread: Float) -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return (Float(z >> 40) / Float(1 << 24) * 2 - 1) * spread
        }
    }

    static func roundUp8(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Rows [T][dp]: random in the first `d` columns, zero padding.
    static func rows(_ t: Int, _ d: Int, _ draws: inout Draws, spread: Float = 1) -> Buffer {
        let dp = roundUp8(d), b = Buffer(t * dp)
        for r in 0..<t { for i in 0..<d { b.p[r * dp + i] = draws.next(spread) } }
        return b
    }

    /// A [T][tp] lower-triangular matrix (zero above the diagonal and in the padding).
    static func lower(_ t: Int, _ draws: inout Draws, spread: Float = 1) -> Buffer {
        let tp = roundUp8(t), b = Buffer(t * tp)
        for r in 0..<t { for c in 0...r { b.p[r * tp + c] = draws.next(spread) } }
        return b
    }

    /// The index and values of the first element whose bits differ, or nil.
    static func firstDifference(_ x: Buffer, _ y: Buffer) -> String? {
        for i in 0..<x.count where x.p[i].bitPattern != y.p[i].bitPattern {
            return "element \(i): \(x.p[i]) vs \(y.p[i])"
        }
        return nil
    }

    /// As `firstDifference`, but two NaNs count as equal whatever their sign and payload: which NaN
    /// operand an addition or multiplication passes on depends on the operand order the compiler
    /// picked (x86 returns the first source's NaN), and the portable kernels and the AVX-512 ones
    /// (row at a time or in groups) already differ there; NaN positions and every other bit agree.
    static func firstDifferenceNaNsAlike(_ x: Buffer, _ y: Buffer) -> String? {
        for i in 0..<x.count where x.p[i].bitPattern != y.p[i].bitPattern && !(x.p[i].isNaN && y.p[i].isNaN) {
            return "element \(i): \(x.p[i]) vs \(y.p[i])"
        }
        return nil
    }

    @Test func productsMatchBitForBit() {
        var draws = Draws(state: 11)
        var compared = 0
        for t in Self.lengths {
            let tp = Self.roundUp8(t)
            for d in Self.widths {
                let dp = Self.roundUp8(d)
                // causalScores: x rows [T][dp], yT [d][tp]; outputs pre-filled with different garbage.
                let x = Self.rows(t, d, &draws), y = Self.rows(t, d, &draws)
                let yT = Buffer(d * tp)
                for r in 0..<t { for i in 0..<d { yT.p[i * tp + r] = y.p[r * dp + i] } }
                for scale: Float in [1, 0.2236068] {
                    let portable = Buffer(t * tp, fill: .nan), wide = Buffer(t * tp, fill: 7)
                    ScoreKernels.causalScores(wide: false, x: x.p, yT: yT.p, length: t, width: d, scale: scale, into: portable.p)
                    ScoreKernels.causalScores(wide: true, x: x.p, yT: yT.p, length: t, width: d, scale: scale, into: wide.p)
                    let diff = Self.firstDifference(portable, wide)
                    #expect(diff == nil, "causalScores T \(t) d \(d) scale \(scale): \(diff ?? "")")
                    compared += portable.count
                }
                // causalMix and its transpose: A lower-triangular [T][tp], v rows [T][dp].
                let a = Self.lower(t, &draws), v = Self.rows(t, d, &draws)
                for transposed in [false, true] {
                    let portable = Buffer(t * dp, fill: .nan), wide = Buffer(t * dp, fill: 7)
                    if transposed {
                        ScoreKernels.causalMixTransposed(wide: false, a.p, v.p, length: t, width: d, into: portable.p)
                        ScoreKernels.causalMixTransposed(wide: true, a.p, v.p, length: t, width: d, into: wide.p)
                    } else {
                        ScoreKernels.causalMix(wide: false, a.p, v.p, length: t, width: d, into: portable.p)
                        ScoreKernels.causalMix(wide: true, a.p, v.p, length: t, width: d, into: wide.p)
                    }
                    let diff = Self.firstDifference(portable, wide)
                    #expect(diff == nil, "causalMix\(transposed ? "Transposed" : "") T \(t) d \(d): \(diff ?? "")")
                    compared += portable.count
                }
            }
        }
        #expect(compared > 100_000)
    }

    @Test func gathersAndScattersMatchBitForBit() {
        var draws = Draws(state: 15)
        for t in Self.lengths {
            let tp = Self.roundUp8(t)
            for d in Self.widths {
                let dp = Self.roundUp8(d), stride = 4 * d + 3
                let src = Buffer(t * stride)
                for i in 0..<src.count { src.p[i] = draws.next(2) }
                let rowsPortable = Buffer(t * dp, fill: .nan), rowsWide = Buffer(t * dp, fill: 7)
                ScoreKernels.gatherRows(wide: false, src.p, stride: stride, rows: t, width: d, into: rowsPortable.p)
                ScoreKernels.gatherRows(wide: true, src.p, stride: stride, rows: t, width: d, into: rowsWide.p)
                let rowsDiff = Self.firstDifference(rowsPortable, rowsWide)
                #expect(rowsDiff == nil, "gatherRows T \(t) d \(d): \(rowsDiff ?? "")")
                // The transposed panel (whole 16 × 16 blocks transposed in registers, gathers at
                // the edges): at a tight stride and a wide one, NaN in every source column at or
                // beyond d (must not leak), the source exactly as long as the rows read.
                for tStride in [d, 4 * d + 3] {
                    let tSrc = Buffer((t - 1) * tStride + d, fill: .nan)
                    for r in 0..<t { for i in 0..<d { tSrc.p[r * tStride + i] = draws.next(2) } }
                    let tPortable = Buffer(d * tp, fill: .nan), tWide = Buffer(d * tp, fill: 7)
                    ScoreKernels.gatherTransposed(wide: false, tSrc.p, stride: tStride, rows: t, width: d,
                                                  into: tPortable.p)
                    ScoreKernels.gatherTransposed(wide: true, tSrc.p, stride: tStride, rows: t, width: d, into: tWide.p)
                    let tDiff = Self.firstDifference(tPortable, tWide)
                    #expect(tDiff == nil, "gatherTransposed T \(t) d \(d) stride \(tStride): \(tDiff ?? "")")
                    #expect(!tWide.values.contains { $0.isNaN }, "gatherTransposed T \(t) d \(d): NaN leaked")
                }
                for scale: Float in [1, 0.2236068] {
                    let outPortable = Buffer(t * stride, fill: 9), outWide = Buffer(t * stride, fill: 9)
                    ScoreKernels.scatterRows(wide: false, rowsPortable.p, rows: t, width: d, scale: scale,
                                             into: outPortable.p, stride: stride)
                    ScoreKernels.scatterRows(wide: true, rowsPortable.p, rows: t, width: d, scale: scale,
                                             into: outWide.p, stride: stride)
                    let diff = Self.firstDifference(outPortable, outWide)
                    #expect(diff == nil, "scatterRows T \(t) d \(d) scale \(scale): \(diff ?? "")")
                }
                // The round trip gather → scatter with scale 1 gives back the source's first d columns.
                let back = Buffer(t * stride, fill: 9)
                ScoreKernels.scatterRows(wide: true, rowsWide.p, rows: t, width: d, scale: 1, into: back.p, stride: stride)
                #expect((0..<t).allSatisfy { r in (0..<d).allSatisfy { back.p[r * stride + $0] == src.p[r * stride + $0] } })
            }
        }
    }

    /// The in-place kernels of the AVX-512 path (row operands and results at a row stride, as in
    /// the [Q K V] buffer) against the portable gatherRows → panel kernel → scatterRows: bit for
    /// bit, with NaN in every source column at or beyond d (must not leak into any result),
    /// outputs pre-filled (columns at or beyond d must keep their fill), scales 1 and ≠ 1.
    @Test func stridedProductsMatchBitForBit() {
        var draws = Draws(state: 16)
        var compared = 0
        for t in Self.lengths {
            let tp = Self.roundUp8(t)
            for d in Self.widths {
                let stride = 3 * d + 5, outStride = 2 * d + 3
                // Sources: random in columns < d, NaN elsewhere.
                let x = Buffer(t * stride, fill: .nan), v = Buffer(t * stride, fill: .nan)
                for r in 0..<t { for i in 0..<d { x.p[r * stride + i] = draws.next(1.5); v.p[r * stride + i] = draws.next(1) } }
                let y = Self.rows(t, d, &draws), dp = Self.roundUp8(d)
                let yT = Buffer(d * tp)
                for r in 0..<t { for i in 0..<d { yT.p[i * tp + r] = y.p[r * dp + i] } }
                for scale: Float in [1, 0.2236068, -3] {
                    let portable = Buffer(t * tp, fill: .nan), wide = Buffer(t * tp, fill: 7)
                    ScoreKernels.causalScoresStrided(wide: false, x: x.p, xStride: stride, yT: yT.p, length: t, width: d,
                                                     scale: scale, into: portable.p)
                    ScoreKernels.causalScoresStrided(wide: true, x: x.p, xStride: stride, yT: yT.p, length: t, width: d,
                                                     scale: scale, into: wide.p)
                    let diff = Self.firstDifference(portable, wide)
                    #expect(diff == nil, "causalScoresStrided T \(t) d \(d) scale \(scale): \(diff ?? "")")
                    #expect(!wide.values.contains { $0.isNaN }, "causalScoresStrided T \(t) d \(d): NaN leaked")
                    compared += portable.count
                }
                let a = Self.lower(t, &draws)
                for transposed in [false, true] {
                    for scale: Float in [1, 0.2236068, -3] {
                        let portable = Buffer(t * outStride, fill: 9), wide = Buffer(t * outStride, fill: 9)
                        for (out, isWide) in [(portable, false), (wide, true)] {
                            ScoreKernels.causalMixStrided(wide: isWide, transposed: transposed, a.p, v.p, vStride: stride,
                                                          length: t, width: d, scale: scale, into: out.p,
                                                          outStride: outStride)
                        }
                        let label = "causalMix\(transposed ? "Transposed" : "")Strided T \(t) d \(d) scale \(scale)"
                        let diff = Self.firstDifference(portable, wide)
                        #expect(diff == nil, "\(label): \(diff ?? "")")
                        #expect(!wide.values.contains { $0.isNaN }, "\(label): NaN leaked")
                        let untouched = (0..<t).allSatisfy { r in (d..<outStride).allSatisfy { wide.p[r * outStride + $0] == 9 } }
                        #expect(untouched, "\(label): wrote at or beyond column d")
                        #expect(wide.values.contains { $0 != 0 && $0 != 9 }, "\(label): no result written")
                        compared += portable.count
                    }
                }
            }
        }
        #expect(compared > 100_000)
    }

    /// The prefetch queue the backward fills (mesa_prefetch_soon): the kernels ask for its lines a
    /// few per block of rows, oldest region first; a fifth region drops the oldest; the results
    /// are the same bits with lines queued or not (hints only).
    @Test func prefetchQueueDrainsWithoutChangingResults() {
        mesa_prefetch_soon_clear()
        defer { mesa_prefetch_soon_clear() }
        var draws = Draws(state: 41)
        let t = 50, tp = Self.roundUp8(t)
        let scores = Self.lower(t, &draws, spread: 4), dA = Self.lower(t, &draws)
        let weights = Self.softmaxRowsBothWays(scores, length: t).wide
        let region = Buffer(64 * 1024), lines = 64 * 1024 * 4 / 64
        func backward() -> Buffer {
            let out = Buffer(t * tp)
            out.copy(from: dA)
            ScoreKernels.causalSoftmaxBackwardRows(wide: true, weights.p, out.p, length: t)
            return out
        }
        let plain = backward()
        #expect(mesa_prefetch_soon_pending() == 0)
        mesa_prefetch_soon(region.p, 64 * 1024 * 4)
        #expect(mesa_prefetch_soon_pending() == lines)
        let queued = backward()
        let asked = lines - mesa_prefetch_soon_pending()
        #expect(asked > 0 && asked < lines, "the backward rows asked for \(asked) of \(lines) lines")
        #expect(Self.firstDifference(plain, queued) == nil)
        // Five regions of 1…5 lines: the first is dropped.
        mesa_prefetch_soon_clear()
        for k in 1...5 { mesa_prefetch_soon(region.p + 1024 * k, 64 * k) }
        #expect(mesa_prefetch_soon_pending() == 2 + 3 + 4 + 5)
        mesa_prefetch_soon(region.p, 0)
        #expect(mesa_prefetch_soon_pending() == 2 + 3 + 4 + 5, "an empty region queues nothing")
        _ = backward()
        #expect(mesa_prefetch_soon_pending() == 0, "every queued line asked for")
    }

    /// The causal softmax rows of `scores` by the portable and by the AVX-512 kernel, each on its own copy.
    static func softmaxRowsBothWays(_ scores: Buffer, length t: Int) -> (portable: Buffer, wide: Buffer) {
        let portable = Buffer(scores.count), wide = Buffer(scores.count)
        portable.copy(from: scores); wide.copy(from: scores)
        ScoreKernels.causalSoftmaxRows(wide: false, portable.p, length: t)
        ScoreKernels.causalSoftmaxRows(wide: true, wide.p, length: t)
        return (portable, wide)
    }

    /// The softmax backward of `dA` at `weights` by both kernels, each on its own copy of dA.
    static func softmaxBackwardRowsBothWays(weights: Buffer, _ dA: Buffer, length t: Int) -> (portable: Buffer, wide: Buffer) {
        let portable = Buffer(dA.count), wide = Buffer(dA.count)
        portable.copy(from: dA); wide.copy(from: dA)
        ScoreKernels.causalSoftmaxBackwardRows(wide: false, weights.p, portable.p, length: t)
        ScoreKernels.causalSoftmaxBackwardRows(wide: true, weights.p, wide.p, length: t)
        return (portable, wide)
    }

    @Test func softmaxRowsMatchBitForBit() {
        var draws = Draws(state: 12)
        for t in Self.lengths {
            // Spreads from unit scores to ones whose differences pass exp's clamp at −87.
            for spread: Float in [1, 8, 60] {
                let scores = Self.lower(t, &draws, spread: spread)
                let (portable, wide) = Self.softmaxRowsBothWays(scores, length: t)
                let diff = Self.firstDifference(portable, wide)
                #expect(diff == nil, "causalSoftmaxRows T \(t) spread \(spread): \(diff ?? "")")
                // Backward with these weights and a random lower-triangular dA.
                let dA = Self.lower(t, &draws)
                let (dPortable, dWide) = Self.softmaxBackwardRowsBothWays(weights: portable, dA, length: t)
                let dDiff = Self.firstDifference(dPortable, dWide)
                #expect(dDiff == nil, "causalSoftmaxBackwardRows T \(t) spread \(spread): \(dDiff ?? "")")
            }
        }
    }

    /// The softmax rows on every T in 1...101 (the AVX-512 kernels work in groups of 8 aligned rows:
    /// every group boundary, short last groups) and on scores chosen to reach the special cases:
    /// exps that underflow to 0, rows whose maximum is 0 with both signs present (the groups may
    /// pick the other zero), ±∞ (∞ − ∞ = NaN, rows of −∞ only), NaN scores (skipped by the max),
    /// garbage above the diagonal; the backward on those weights with a dA that has ±0, ±∞ and NaN.
    /// NaNs compare alike whatever their sign (see `firstDifferenceNaNsAlike`).
    @Test func softmaxRowsSpecialValuesMatchBitForBit() {
        enum Pattern: CaseIterable { case unit, underflow, signedZeros, specials }
        var draws = Draws(state: 21)
        var counts = (nan: 0, zero: 0, one: 0)
        for t in 1...101 {
            let tp = Self.roundUp8(t)
            for pattern in Pattern.allCases {
                let scores = Buffer(t * tp, fill: pattern == .specials ? .nan : 7)
                for r in 0..<t {
                    let minusInfinityRow = pattern == .specials && draws.next(1) > 0.8
                    for c in 0...r {
                        let u = draws.next(1)
                        let x: Float
                        switch pattern {
                        case .unit: x = u
                        case .underflow: x = u * 150
                        case .signedZeros: x = u < -0.3 ? -0.0 : u > 0.3 ? 0.0 : u * 10 - 5
                        case .specials:
                            let w = draws.next(1)
                            x = minusInfinityRow ? -.infinity
                                : w > 0.96 ? .infinity : w > 0.9 ? -.infinity : w > 0.86 ? .nan
                                : w > 0.8 ? -0.0 : w > 0.74 ? 0.0 : u * 4
                        }
                        scores.p[r * tp + c] = x
                    }
                }
                let (portable, wide) = Self.softmaxRowsBothWays(scores, length: t)
                let diff = Self.firstDifferenceNaNsAlike(portable, wide)
                #expect(diff == nil, "causalSoftmaxRows T \(t) \(pattern): \(diff ?? "")")
                for r in 0..<t {
                    for c in 0...r {
                        let y = portable.p[r * tp + c]
                        if y.isNaN { counts.nan += 1 } else if y == 0 { counts.zero += 1 } else if y == 1 { counts.one += 1 }
                    }
                }
                let dA = Buffer(t * tp, fill: pattern == .specials ? .nan : 0)
                for r in 0..<t {
                    for c in 0...r {
                        let w = draws.next(1)
                        dA.p[r * tp + c] = pattern == .unit || pattern == .underflow ? w * 3
                            : w > 0.95 ? .infinity : w > 0.9 ? -.infinity : w > 0.85 ? .nan
                            : w > 0.6 ? -0.0 : w > 0.35 ? 0.0 : w * 3
                    }
                }
                let (dPortable, dWide) = Self.softmaxBackwardRowsBothWays(weights: portable, dA, length: t)
                let dDiff = Self.firstDifferenceNaNsAlike(dPortable, dWide)
                #expect(dDiff == nil, "causalSoftmaxBackwardRows T \(t) \(pattern): \(dDiff ?? "")")
            }
        }
        // The special cases were reached: NaN weights, exps underflowed to 0, rows of one weight 1.
        #expect(counts.nan > 1000 && counts.zero > 1000 && counts.one > 100, "\(counts)")
    }

    /// One head's forward and backward through the whole score core, q/k/v strided as in a
    /// batch tensor, both kinds, weights kept (forward's A) or recomputed.
    @Test(arguments: [false, true])
    func headForwardBackwardMatchBitForBit(softmax: Bool) {
        var draws = Draws(state: softmax ? 13 : 14)
        for t in Self.lengths {
            for (n, dk) in Self.widths.enumerated() {
                let dv = Self.widths[(n + 2) % Self.widths.count]
                let qkStride = 3 * dk + 5, vStride = 2 * dv + 3
                // NaN beyond each row's first d columns: the other heads' and kinds' columns of a
                // [Q K V] row, which no kernel may read.
                let q = Buffer(t * qkStride, fill: .nan), k = Buffer(t * qkStride, fill: .nan)
                let v = Buffer(t * vStride, fill: .nan), dOut = Buffer(t * vStride, fill: .nan)
                for r in 0..<t {
                    for i in 0..<dk { q.p[r * qkStride + i] = draws.next(1.5); k.p[r * qkStride + i] = draws.next(1.5) }
                    for i in 0..<dv { v.p[r * vStride + i] = draws.next(1); dOut.p[r * vStride + i] = draws.next(1) }
                }
                let head = HeadView(length: t, keySize: dk, valueSize: dv, q: q.p, k: k.p, qkStride: qkStride,
                                    v: v.p, vStride: vStride)
                let scratchCount = ScoreKernels.headScratchCount(length: t, keySize: dk, valueSize: dv)
                let tp = Self.roundUp8(t)
                var outs: [Buffer] = [], weights: [Buffer] = [], grads: [[Buffer]] = []
                for wide in [false, true] {
                    let out = Buffer(t * vStride, fill: 3), w = Buffer(t * tp, fill: .nan)
                    let scratch = Buffer(scratchCount, fill: .nan)
                    ScoreKernels.headForward(softmax: softmax, wide: wide, head, out: out.p, outStride: vStride,
                                             scratch: scratch.p, weights: w.p)
                    outs.append(out); weights.append(w)
                    for kept in [true, false] {
                        let gq = Buffer(t * qkStride, fill: 5), gk = Buffer(t * qkStride, fill: 5)
                        let gv = Buffer(t * vStride, fill: 5)
                        let grad = HeadView(length: t, keySize: dk, valueSize: dv, q: gq.p, k: gk.p, qkStride: qkStride,
                                            v: gv.p, vStride: vStride)
                        ScoreKernels.headBackward(softmax: softmax, wide: wide, head, dOut: dOut.p, doutStride: vStride,
                                                  grad: grad, scratch: scratch.p, weights: kept ? UnsafePointer(w.p) : nil)
                        grads.append([gq, gk, gv])
                    }
                }
                let label = "\(softmax ? "softmax" : "linear") T \(t) d_k \(dk) d_v \(dv)"
                let outDiff = Self.firstDifference(outs[0], outs[1])
                #expect(outDiff == nil, "forward \(label): \(outDiff ?? "")")
                let wDiff = Self.firstDifference(weights[0], weights[1])
                #expect(wDiff == nil, "weights \(label): \(wDiff ?? "")")
                for kept in 0..<2 {
                    for (g, name) in zip(0..<3, ["dq", "dk", "dv"]) {
                        let diff = Self.firstDifference(grads[kept][g], grads[2 + kept][g])
                        #expect(diff == nil, "\(name) \(label) \(kept == 0 ? "kept" : "recomputed"): \(diff ?? "")")
                    }
                }
                // The backward is not trivially zero: some gradient is nonzero; no NaN leaked.
                #expect(grads[2][2].values.contains { $0 != 0 && $0 != 5 })
                #expect(!(outs[1].values + grads[2].flatMap(\.values) + grads[3].flatMap(\.values)).contains { $0.isNaN },
                        "NaN leaked \(label)")
            }
        }
    }
}
