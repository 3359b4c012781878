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
        let names = file.tensors.keys.sorted()
        var (json, dataBytes) = header(file, names: names)
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + dataBytes)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        for name in names {
            let t = file.tensors[name]!
            withExtendedLifetime(t.storage) {
                data.append(Data(bytes: t.storage.raw, count: t.count * t.dtype.size))
            }
        }
        return data
    }

    /// The header's JSON, written here and not by JSONSerialization, whose sorted keys (a
    /// locale-aware comparison per pair) took ~25 ms for a softmax-7 checkpoint's 175 entries, on
    /// one core at the end of every run (BENCHMARKS.md, "Stops 15–16"). A fixed order, so the same
    /// file gives the same bytes: "__metadata__" first (its keys in Swift's string order), then the
    /// tensors in `names` order (the order of their data), each as
    /// {"data_offsets":[begin,end],"dtype":…,"shape":[…]}; strings escaped as RFC 8259 asks.
    /// Also the data's size in bytes (the end of the last tensor's offsets).
    static func header(_ file: File, names: [String]) -> (json: [UInt8], dataBytes: Int) {
        var out: [UInt8] = []
        out.reserveCapacity(128 + 96 * names.count + file.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 8 })
        func text(_ s: String) { out.append(contentsOf: s.utf8) }
        func ints(_ values: [Int]) { text("[" + values.map(String.init).joined(separator: ",") + "]") }
        out.append(UInt8(ascii: "{"))
        var first = true
        func comma() { if !first { out.append(UInt8(ascii: ",")) }; first = false }
        if !file.metadata.isEmpty {
            comma()
            appendJSONString("__metadata__", to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: "{"))
            for (i, key) in file.metadata.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendJSONString(file.metadata[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for name in names {
            let t = file.tensors[name]!
            let bytes = t.count * t.dtype.size
            comma()
            appendJSONString(name, to: &out)
            text(":{\"data_offsets\":")
            ints([offset, offset + bytes])
            text(",\"dtype\":")
            appendJSONString(t.dtype.safetensorsName, to: &out)
            text(",\"shape\":")
            ints(t.shape)
            out.append(UInt8(ascii: "}"))
            offset += bytes
        }
        out.append(UInt8(ascii: "}"))
        return (out, offset)
    }

    /// `s` as a JSON string: quotation mark and reverse solidus escaped, control characters as
    /// \b \f \n \r \t or \u00XX, everything else as its UTF-8 bytes.
    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0x08: out += Array("\\b".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
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
