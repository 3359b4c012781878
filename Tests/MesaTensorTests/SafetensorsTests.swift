import Foundation
import Testing
import MesaTensor

@Suite struct SafetensorsTests {
    func tempDir() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-st-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    @Test func roundTrip() throws {
        let a = randomTensor([3, 4], seed: 1, dtype: .float32), b = randomTensor([2, 2, 2], seed: 2)
        let url = tempDir().appendingPathComponent("c.safetensors")
        try Safetensors.write(.init(tensors: ["a": a, "layer.b": b], metadata: ["step": "12"]), to: url)
        let back = try Safetensors.read(url)
        #expect(back.metadata == ["step": "12"])
        #expect(back.tensors["a"]!.dtype == .float32 && back.tensors["a"]!.doubles == a.doubles)
        #expect(back.tensors["layer.b"]!.shape == [2, 2, 2] && back.tensors["layer.b"]!.doubles == b.doubles)
        // The layout Python's safetensors expects: u64 header length, JSON, 8-byte aligned.
        let data = try Data(contentsOf: url)
        var n = 0
        for (i, byte) in data.prefix(8).enumerated() { n |= Int(byte) << (8 * i) }
        #expect(n % 8 == 0)
        #expect(data.count == 8 + n + 12 * 4 + 8 * 8)
    }

    @Test func corruptAndMissingFilesGiveClearErrors() throws {
        let dir = tempDir()
        #expect(throws: MesaIOError.self) { try Safetensors.read(dir.appendingPathComponent("none.safetensors")) }
        let good = try Safetensors.encode(.init(tensors: ["a": randomTensor([10], seed: 3)]))
        for bad in [Data([1, 2, 3]), good.prefix(good.count - 4), Data(repeating: 0xff, count: 64)] {
            let url = dir.appendingPathComponent("bad.safetensors")
            try bad.write(to: url)
            do {
                _ = try Safetensors.read(url)
                Issue.record("a corrupt file was read")
            } catch let e as MesaIOError {
                #expect(e.description.contains("bad.safetensors"))
            }
        }
    }
}
