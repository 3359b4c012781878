import Testing
import MesaTensor

/// `VectorNormals.normals` through the AVX-512 lane kernel (data512.c) against the Swift SIMD8
/// version and the scalar definition (`VectorNormals.pair` of each block), bit for bit: counts
/// that do and do not fill a group of 16, and a first block near 2³² (the counter wraps).
@Suite struct LaneVectorNormalsTests {
    @Test(arguments: [(1, UInt32(0)), (2, 5), (15, 3), (16, 0), (17, 9), (100, 1), (1001, 77), (64, UInt32.max - 20)])
    func laneKernelIsTheDefinition(count: Int, first: UInt32) {
        let counter = SIMD4<UInt32>(0, 12, 345, 2), key = SIMD2<UInt32>(0x9876_5432, 0x0BAD_F00D)
        var lane = [Double](repeating: .nan, count: count), portable = lane
        lane.withUnsafeMutableBufferPointer {
            VectorNormals.normals(count, firstBlock: first, counter: counter, key: key, into: $0.baseAddress!, lanes: true)
        }
        portable.withUnsafeMutableBufferPointer {
            VectorNormals.normals(count, firstBlock: first, counter: counter, key: key, into: $0.baseAddress!, lanes: false)
        }
        var scalar: [Double] = []
        var block = first
        while scalar.count < count {
            var c = counter
            c[0] = block
            let (z0, z1) = VectorNormals.pair(philox4x32(c, key: key))
            scalar.append(z0)
            if scalar.count < count { scalar.append(z1) }
            block &+= 1
        }
        #expect(lane.map(\.bitPattern) == scalar.map(\.bitPattern))
        #expect(portable.map(\.bitPattern) == scalar.map(\.bitPattern))
        #expect(lane.allSatisfy { $0.isFinite })
    }
}

/// `philox4x32x8` (through data512.c where the CPU has AVX-512) and its Swift SIMD8 version
/// against eight single blocks of `philox4x32`, word by word, at counter and key edges.
@Suite struct LanePhiloxTests {
    @Test func laneAndPortableWordsAreEightSingleBlocks() {
        let lane = UnsafeMutablePointer<UInt32>.allocate(capacity: 32), portable = UnsafeMutablePointer<UInt32>.allocate(capacity: 32)
        defer { lane.deallocate(); portable.deallocate() }
        for (first, counter, key) in [(UInt32(0), SIMD4<UInt32>(0, 3, 17, 2), SIMD2<UInt32>(42, 0)),
                                      (0xFFFF_FFFC, SIMD4(0, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF), SIMD2(0xFFFF_FFFF, 0xFFFF_FFFF)),
                                      (123_456, SIMD4(0, 9, 1, 5), SIMD2(0xA409_3822, 0x299F_31D0))] {
            philox4x32x8(first: first, counter: counter, key: key, into: lane)
            philox4x32x8Portable(first: first, counter: counter, key: key, into: portable)
            for l in 0..<8 {
                var c = counter
                c[0] = first &+ UInt32(l)
                let block = philox4x32(c, key: key)
                for w in 0..<4 {
                    #expect(lane[4 * l + w] == block[w])
                    #expect(portable[4 * l + w] == block[w])
                }
            }
        }
    }
}
