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
