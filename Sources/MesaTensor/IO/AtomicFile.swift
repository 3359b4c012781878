import Foundation

/// Files that are either completely written or not there: data goes to a temporary file in
/// the same directory, is flushed to disk, and is renamed over the destination (rename is
/// atomic on POSIX). A crash or Ctrl-C mid-write leaves the previous version intact.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw MesaIOError.cannotWrite(tmp.path, "cannot create file")
        }
        do {
            let handle = try FileHandle(forWritingTo: tmp)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(tmp.path, url.path) == 0 else {
                throw MesaIOError.cannotWrite(url.path, String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Writes a value as pretty-printed JSON with sorted keys (diff-friendly configs).
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try write(encoder.encode(value) + Data("\n".utf8), to: url)
    }
}

public enum MesaIOError: Error, CustomStringConvertible {
    case cannotWrite(String, String)
    case missing(String)
    case corrupt(String, String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, why): return "cannot write \(path): \(why)"
        case let .missing(path): return "\(path) does not exist"
        case let .corrupt(path, why): return "\(path) is not a valid file: \(why)"
        }
    }
}
