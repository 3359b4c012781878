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

    /// A file of `header` (JSON text, or any bytes) and `body` bytes, with a correct length field.
    func file(_ header: [UInt8], body: [UInt8] = []) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { d.append(contentsOf: $0) }
        return d + Data(header) + Data(body)
    }

    func file(_ header: String, body: [UInt8] = []) -> Data { file(Array(header.utf8), body: body) }

    /// Malformed headers of the kinds the fuzzer (scripts/fuzz.sh) tries: each must be refused
    /// with an error that says what is wrong, never trap. Before the fix the shape product and
    /// the offset difference overflowed (a trap in debug builds, a wrong-sized tensor under
    /// -Ounchecked), and a slice of a larger buffer trapped on its indices.
    @Test func malformedHeadersAreRefusedWithoutTrapping() throws {
        let big = Int.max / 2 + 1
        let cases: [(Data, String)] = [
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[\(big),4],\"data_offsets\":[0,0]}}"), "shape"),
            (file("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}"), "shape"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2,-2],\"data_offsets\":[0,16]}}", body: .init(repeating: 0, count: 16)), "shape"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,\(Int.min)]}}", body: [0, 0, 0, 0]), "data offsets"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\(Int.max - 1),\(Int.max)]}}", body: [0, 0, 0, 0]), "data offsets"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", body: [0, 0, 0, 0]), "data offsets"),
            (file("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", body: [0, 0, 0, 0]), "data offsets"),
            (file("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", body: [0, 0, 0, 0]), "dtype BF16"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}"), "lacks"),
            (file([0x7b, 0xff, 0xfe, 0x7d]), "not a JSON object"),
            (file("[1, 2]"), "not a JSON object"),
            (file("{\"__metadata__\":{\"step\":3}}"), "__metadata__"),
            (Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7b, 0x7d]), "header length"),
            (Data([0x10, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), "header length"),
        ]
        for (bytes, why) in cases {
            do {
                _ = try Safetensors.decode(bytes, path: "x.safetensors")
                Issue.record("read a malformed file that should fail on \(why)")
            } catch let e as MesaIOError {
                #expect(e.description.contains("x.safetensors") && e.description.contains(why), "\(e)")
            }
        }
        // An empty tensor with a huge dimension is well-formed (its size does not overflow).
        let empty = try Safetensors.decode(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,\(big)],\"data_offsets\":[0,0]}}"))
        #expect(empty.tensors["a"]!.shape == [0, big] && empty.tensors["a"]!.count == 0)
    }

    /// `decode` reads a slice of a larger buffer (non-zero start index) as it reads the bytes alone.
    @Test func decodesASliceOfALargerBuffer() throws {
        let a = randomTensor([3, 2], seed: 4, dtype: .float32)
        let bytes = try Safetensors.encode(.init(tensors: ["a": a], metadata: ["k": "v"]))
        let padded = Data([1, 2, 3]) + bytes + Data([9])
        let back = try Safetensors.decode(padded[3..<(3 + bytes.count)])
        #expect(back.metadata == ["k": "v"] && back.tensors["a"]!.doubles == a.doubles)
    }

    /// The header mesa writes by hand is JSON that JSONSerialization reads back to what it was
    /// given — names and metadata with quotes, backslashes, slashes, control characters and
    /// non-ASCII text — with "__metadata__" first and the tensors in the order of their data, and
    /// the same file gives the same bytes.
    @Test func theHandWrittenHeaderIsTheJSONOfTheFile() throws {
        let odd = "a \"quoted\" \\ back/slash\nnew\tline\r\u{08}\u{0C}\u{01}\u{1F} σ² 😀"
        let tensors = ["w\"1": randomTensor([2, 3], seed: 5, dtype: .float32), "layers.10.q": randomTensor([4], seed: 6),
                       "layers.9.q": randomTensor([1, 1, 2], seed: 7, dtype: .float32), "σ": randomTensor([0, 3], seed: 8)]
        let file = Safetensors.File(tensors: tensors, metadata: ["config": odd, "step": "3", odd: "key"])
        let bytes = try Safetensors.encode(file)
        #expect(try Safetensors.encode(file) == bytes)
        var n = 0
        for (i, byte) in bytes.prefix(8).enumerated() { n |= Int(byte) << (8 * i) }
        #expect(n % 8 == 0)
        let headerText = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(headerText.hasPrefix("{\"__metadata__\":{"))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        #expect(header["__metadata__"] as? [String: String] == file.metadata)
        var offset = 0
        var lastStart = -1
        for name in tensors.keys.sorted() {
            let t = tensors[name]!, size = t.count * t.dtype.size
            let entry = try #require(header[name] as? [String: Any], "entry \(name)")
            #expect(entry.count == 3)
            #expect(entry["dtype"] as? String == t.dtype.safetensorsName)
            #expect(entry["shape"] as? [Int] == t.shape)
            #expect(entry["data_offsets"] as? [Int] == [offset, offset + size], "\(name)")
            let start = try #require(headerText.range(of: "\"data_offsets\":[\(offset),\(offset + size)]")?.lowerBound)
            #expect(headerText.distance(from: headerText.startIndex, to: start) > lastStart, "\(name) in the order of its data")
            lastStart = headerText.distance(from: headerText.startIndex, to: start)
            offset += size
        }
        #expect(header.count == tensors.count + 1)
        #expect(bytes.count == 8 + n + offset)
        let back = try Safetensors.decode(bytes)
        #expect(back.metadata == file.metadata)
        for (name, t) in tensors {
            #expect(back.tensors[name]?.shape == t.shape && back.tensors[name]?.dtype == t.dtype)
            #expect(back.tensors[name]?.doubles == t.doubles, "\(name)")
        }
    }
}
