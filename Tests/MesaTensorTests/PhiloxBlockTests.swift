import Foundation
import Testing
import MesaTensor

/// `PhiloxBlockStream` (eight Philox blocks at a time, normals in bulk) against `RandomStream`, the
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
            let out = UnsafeMutablePointer<Double>.allocate(capacity: 64), scratch = UnsafeMutablePointer<Double>.allocate(capacity: 65)
            defer { out.deallocate(); scratch.deallocate() }
            var kind = 0
            for run in 1...120 {
                if run % 5 == 0 {  // many normals at once, odd and even counts
                    let count = run % 11
                    fast.normals(count, into: out, scratch: scratch)
                    for i in 0..<count { #expect(plain.normal().bitPattern == out[i].bitPattern) }
                }
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
}
