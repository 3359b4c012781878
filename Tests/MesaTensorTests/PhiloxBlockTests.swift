import Foundation
import Testing
import MesaTensor

/// `PhiloxBlockStream` (eight Philox blocks at a time, sincos) against `RandomStream`, the
/// plain one-block-at-a-time definition: every number equal, bit for bit.
@Suite struct PhiloxBlockTests {
    @Test func eightBlocksAtOnceAreEightSingleBlocks() {
        let words = UnsafeMutablePointer<UInt32>.allocate(capacity: 32)
        defer { words.deallocate() }
        for (first, counter, key) in [(UInt32(0), SIMD4<UInt32>(0, 3, 17, 2), SIMD2<UInt32>(42, 0)),
                                      (0xFFFF_FFFC, SIMD4(0, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF), SIMD2(0xFFFF_FFFF, 0xFFFF_FFFF)),
                                      (123_456, SIMD4(0, 9, 1, 5), SIMD2(0xA409_3822, 0x299F_31D0))] {
            philox4x32x8(first: first, counter: counter, key: key, into: words)
            for l in 0..<8 {
                var c = counter
                c[0] = first &+ UInt32(l)
                let block = philox4x32(c, key: key)
                for w in 0..<4 { #expect(words[4 * l + w] == block[w]) }
            }
        }
    }

    @Test func sameNumbersAsRandomStreamInAnyInterleaving() {
        let buffer = UnsafeMutablePointer<UInt32>.allocate(capacity: PhiloxBlockStream.bufferWords)
        defer { buffer.deallocate() }
        for (seed, purpose, step, index) in [(UInt64(0), RandomPurpose.trainingBatch, 0, 0),
                                             (42, .testBatch, 17, 255), (0xDEAD_BEEF_0123_4567, .experiment, 99_999, 3)] {
            var plain = RandomStream(seed: seed, purpose: purpose, step: step, index: index)
            var fast = PhiloxBlockStream(seed: seed, purpose: purpose, step: step, index: index, buffer: buffer)
            // Odd runs of each kind, so normals straddle uniforms and buffer refills.
            var kind = 0
            for run in 1...120 {
                for _ in 0..<(run % 7 + 1) {
                    switch kind % 4 {
                    case 0: #expect(plain.normal().bitPattern == fast.normal().bitPattern)
                    case 1: #expect(plain.uniform(-1, 1).bitPattern == fast.uniform(-1, 1).bitPattern)
                    case 2: #expect(plain.nextUInt32() == fast.nextUInt32())
                    default: #expect(plain.uniform().bitPattern == fast.uniform().bitPattern)
                    }
                }
                kind += run
            }
        }
    }

    /// glibc's sincos computes sine and cosine as sin and cos do: bit for bit on Box–Muller's
    /// angles 2πu, u ∈ [0, 1), including the ends of the range.
    @Test func sincosIsSinAndCos() {
        var stream = RandomStream(seed: 7, purpose: .experiment)
        var angles = (0..<200_000).map { _ in 2 * Double.pi * stream.uniform() }
        angles += [0, 2 * Double.pi * 0x1.fffffffffffffp-1, Double.pi, Double.pi / 2, 1e-300, 0.855469, 2.426265]
        var mismatches = 0
        for x in angles {
            let (s, c) = sinCos(x)
            if s.bitPattern != Foundation.sin(x).bitPattern || c.bitPattern != Foundation.cos(x).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}
