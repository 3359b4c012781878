import Testing
import MesaTensor

@Suite struct RandomTests {
    /// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
    @Test func philoxKnownAnswers() {
        #expect(philox4x32(SIMD4(0, 0, 0, 0), key: SIMD2(0, 0))
                == SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        #expect(philox4x32(SIMD4(repeating: 0xffff_ffff), key: SIMD2(repeating: 0xffff_ffff))
                == SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        #expect(philox4x32(SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344),
                           key: SIMD2(0xa409_3822, 0x299f_31d0))
                == SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    @Test func streamsArePureFunctionsOfTheirKey() {
        var a = RandomStream(seed: 42, purpose: .trainingBatch, step: 17, index: 3)
        let first = (0..<10).map { _ in a.normal() }
        // Drawing other streams in between changes nothing.
        var other = RandomStream(seed: 42, purpose: .trainingBatch, step: 18, index: 3)
        _ = (0..<100).map { _ in other.uniform() }
        var b = RandomStream(seed: 42, purpose: .trainingBatch, step: 17, index: 3)
        #expect((0..<10).map { _ in b.normal() } == first)
        var c = RandomStream(seed: 43, purpose: .trainingBatch, step: 17, index: 3)
        #expect((0..<10).map { _ in c.normal() } != first)
    }

    @Test func normalAndUniformMoments() {
        var s = RandomStream(seed: 1, purpose: .experiment)
        let n = 200_000
        let z = (0..<n).map { _ in s.normal() }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.01)
        let u = (0..<n).map { _ in s.uniform(-1, 1) }
        #expect(u.allSatisfy { $0 >= -1 && $0 < 1 })
        #expect(abs(u.map { $0 * $0 }.reduce(0, +) / Double(n) - 1.0 / 3) < 0.005)
        let k = (0..<60_000).map { _ in s.integer(below: 6) }
        for v in 0..<6 { #expect(abs(Double(k.filter { $0 == v }.count) / 10_000 - 1) < 0.05) }
    }
}
