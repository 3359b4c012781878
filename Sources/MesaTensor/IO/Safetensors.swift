import Foundation

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length
/// N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
/// {string: string}}`, then the raw little-endian tensor bytes. Python reads mesa
/// checkpoints with `safetensors.numpy.load_file(path)`.
public enum Safetensors {
    public struct File {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    public static func encode(_ file: File) throws -> Data {
        var header: [String: Any] = [:]
        if !file.metadata.isEmpty { header["__metadata__"] = file.metadata }
        var offset = 0
        let names = file.tensors.keys.sorted()
        for name in names {
            let t = file.tensors[name]!
            let bytes = t.count * t.dtype.size
            header[name] = ["dtype": t.dtype.safetensorsName, "shape": t.shape,
                            "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names {
            let t = file.tensors[name]!
            withExtendedLifetime(t.storage) {
                data.append(Data(bytes: t.storage.raw, count: t.count * t.dtype.size))
            }
        }
        return data
    }

    /// Writes atomically (see `AtomicFile`).
    public static func write(_ file: File, to url: URL) throws {
        try AtomicFile.write(encode(file), to: url)
    }

    public static func read(_ url: URL) throws -> File {
        guard FileManager.default.fileExists(atPath: url.path) else { throw MesaIOError.missing(url.path) }
        let data = try Data(contentsOf: url)
        return try decode(data, path: url.path)
    }

    /// The largest header read (the reference implementation's limit): a corrupt length field
    /// must not make the reader allocate or parse gigabytes.
    public static let maxHeaderBytes = 100_000_000

    /// Reads a safetensors file from its bytes (`data` may be a slice). Bytes that are not a
    /// well-formed file are refused with `MesaIOError.corrupt` naming `path` and what is wrong;
    /// no input traps (the reader is fuzzed: scripts/fuzz.sh).
    public static func decode(_ data: Data, path: String = "<data>") throws -> File {
        func corrupt(_ why: String) -> MesaIOError { .corrupt(path, why) }
        guard data.count >= 8 else { throw corrupt("shorter than the 8-byte safetensors header length") }
        var n: UInt64 = 0
        for (i, byte) in data.prefix(8).enumerated() { n |= UInt64(byte) << UInt64(8 * i) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw corrupt("header length \(n) exceeds the \(maxHeaderBytes) bytes a safetensors header may have")
        }
        guard n <= UInt64(data.count - 8) else {
            throw corrupt("header length \(n) exceeds the \(data.count - 8) bytes after the length field")
        }
        let headerStart = data.startIndex + 8, bodyStart = headerStart + Int(n)
        guard let header = (try? JSONSerialization.jsonObject(with: Data(data[headerStart..<bodyStart]))) as? [String: Any]
        else {
            throw corrupt("header is not a JSON object")
        }
        let body = data[bodyStart...]
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for name in header.keys.sorted() {
            let entry = header[name]!
            if name == "__metadata__" {
                guard let m = entry as? [String: String] else { throw corrupt("__metadata__ is not a string map") }
                metadata = m
                continue
            }
            guard let e = entry as? [String: Any], let dtypeName = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int],
                  offsets.count == 2 else {
                throw corrupt("entry '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType.allCases.first(where: { $0.safetensorsName == dtypeName }) else {
                throw corrupt("tensor '\(name)' has dtype \(dtypeName); mesa reads F32 and F64")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 }), let byteCount = Self.byteCount(shape: shape, dtype: dtype) else {
                throw corrupt("tensor '\(name)' has shape \(shape): dimensions must be ≥ 0 and the size must fit in memory")
            }
            guard begin >= 0, begin <= end, end <= body.count, end - begin == byteCount else {
                throw corrupt("tensor '\(name)' (shape \(shape), \(dtypeName), \(byteCount) bytes) does not fit its data offsets \(offsets) in \(body.count) data bytes")
            }
            var t = Tensor(uninitializedShape: shape, dtype: dtype)
            let slice = body[(bodyStart + begin)..<(bodyStart + end)]
            func fill<S: TensorScalar>(_: S.Type) {
                t.withUnsafeMutableBufferPointer(as: S.self) { dst in
                    _ = slice.copyBytes(to: UnsafeMutableRawBufferPointer(dst))
                }
            }
            dtype == .float32 ? fill(Float.self) : fill(Double.self)
            tensors[name] = t
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// Bytes a tensor of `shape` takes, nil when the product of the dimensions overflows.
    static func byteCount(shape: [Int], dtype: DType) -> Int? {
        var total = dtype.size
        for d in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = product
        }
        return total
    }
}
