import Foundation
import MesaTensor
import MesaTraining

/// Bytes of text to model (SPEC §7): any UTF-8 files and folders, read in a fixed order and
/// split deterministically into training and validation text.
///
/// Policy for bytes that are not UTF-8 text (UTF-8 with no NUL byte): a file named on the
/// command line is refused with its path and the byte offset of the first bad byte; inside a
/// folder such files are skipped (Debian's fortunes folder holds binary `.dat` indexes beside
/// the text) and listed in `skipped`. Folders are walked recursively in sorted order, hidden
/// entries and symbolic links inside them left out (fortunes' `.u8` links would repeat files).
///
/// Split: the last `validationFraction` of every file is validation text, the rest training
/// text, so both parts see every file. Files are joined with nothing between them.
public struct Corpus {
    public struct File: Equatable {
        public let path: String
        public let bytes: Int
    }

    /// The files read, in order.
    public let files: [File]
    /// Files inside folders left out because they are not UTF-8 text: path and why.
    public let skipped: [(path: String, reason: String)]
    public let train: [UInt8]
    public let validation: [UInt8]
    /// FNV-1a 64 over every file's path and bytes, hex.
    public let digest: String
    public var totalBytes: Int { files.reduce(0) { $0 + $1.bytes } }

    /// Where Debian's `fortunes` package puts its text (installed by scripts/setup.sh).
    public static let defaultPath = "/usr/share/games/fortunes"

    public init(paths: [String], validationFraction: Double = 0.1) throws {
        guard !paths.isEmpty else { throw CorpusError.noPaths }
        guard validationFraction > 0 && validationFraction < 1 else {
            throw CorpusError.invalid("the validation fraction must lie in (0, 1), got \(validationFraction)")
        }
        var files: [File] = [], skipped: [(String, String)] = []
        var train: [UInt8] = [], validation: [UInt8] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: [UInt8]) { for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 } }
        let fm = FileManager.default
        func add(_ path: String, named: Bool) throws {
            guard let data = fm.contents(atPath: path) else { throw CorpusError.unreadable(path) }
            let bytes = [UInt8](data)
            if let offset = Corpus.firstNonText(bytes) {
                let why = bytes[offset] == 0 ? "a NUL byte" : "not UTF-8"
                if named { throw CorpusError.notUTF8(path: path, offset: offset, why: why) }
                skipped.append((path, "byte \(offset): \(why)"))
                return
            }
            if bytes.isEmpty { return }
            files.append(File(path: path, bytes: bytes.count))
            mix(Array(path.utf8)); mix(bytes)
            let cut = bytes.count - Int((Double(bytes.count) * validationFraction).rounded())
            train += bytes[..<cut]
            validation += bytes[cut...]
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CorpusError.missing(path) }
            if !isDirectory.boolValue {
                try add(path, named: true)
                continue
            }
            for file in try Corpus.walk(path) { try add(file, named: false) }
        }
        guard !files.isEmpty else { throw CorpusError.empty(paths: paths, skipped: skipped.count) }
        self.files = files
        self.skipped = skipped
        self.train = train
        self.validation = validation
        digest = String(format: "%016llx", hash)
    }

    /// The corpus of a run's configuration; refuses files that changed since the run was made
    /// (its recorded size and digest), naming the corpus.
    public init(settings s: TextCorpusSettings) throws {
        try self.init(paths: s.corpus, validationFraction: s.validationFraction)
        if !s.digest.isEmpty && (s.digest != digest || s.bytes != totalBytes) {
            throw CorpusError.changed(paths: s.corpus, recorded: "\(s.bytes) bytes, digest \(s.digest)",
                                      now: "\(totalBytes) bytes, digest \(digest)")
        }
    }

    /// The settings that record this corpus in config.json.
    public func settings(paths: [String], validationFraction: Double) -> TextCorpusSettings {
        TextCorpusSettings(corpus: paths, validationFraction: validationFraction, bytes: totalBytes, digest: digest)
    }

    /// Checks that both parts hold at least one window of `length` inputs and their targets.
    public func check(length: Int) throws {
        for (name, part) in [("training", train), ("validation", validation)] where part.count < length + 1 {
            throw CorpusError.tooSmall(part: name, bytes: part.count, needed: length + 1, total: totalBytes)
        }
    }

    /// Regular files under `folder`, recursively, sorted; hidden entries and links left out.
    static func walk(_ folder: String) throws -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for name in try fm.contentsOfDirectory(atPath: folder).sorted() where !name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            let attributes = try fm.attributesOfItem(atPath: path)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?: out += try walk(path)
            case .typeRegular?: out.append(path)
            default: continue
            }
        }
        return out
    }

    /// The offset of the first byte that makes `bytes` not UTF-8 text (a NUL, or a byte that
    /// breaks UTF-8), or nil.
    public static func firstNonText(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b == 0 { return i }
            if b < 0x80 { i += 1; continue }
            let length: Int, low: UInt8, high: UInt8
            switch b {
            case 0xC2...0xDF: length = 2; low = 0x80; high = 0xBF
            case 0xE0: length = 3; low = 0xA0; high = 0xBF
            case 0xE1...0xEC, 0xEE, 0xEF: length = 3; low = 0x80; high = 0xBF
            case 0xED: length = 3; low = 0x80; high = 0x9F
            case 0xF0: length = 4; low = 0x90; high = 0xBF
            case 0xF1...0xF3: length = 4; low = 0x80; high = 0xBF
            case 0xF4: length = 4; low = 0x80; high = 0x8F
            default: return i
            }
            guard i + length <= n else { return i }
            if bytes[i + 1] < low || bytes[i + 1] > high { return i }
            for j in 2..<length where bytes[i + j] < 0x80 || bytes[i + j] > 0xBF { return i }
            i += length
        }
        return nil
    }
}

public enum CorpusError: Error, CustomStringConvertible {
    case noPaths
    case missing(String)
    case unreadable(String)
    case notUTF8(path: String, offset: Int, why: String)
    case empty(paths: [String], skipped: Int)
    case tooSmall(part: String, bytes: Int, needed: Int, total: Int)
    case changed(paths: [String], recorded: String, now: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .noPaths: return "no corpus given: pass --corpus FILE_OR_FOLDER"
        case let .missing(path): return "corpus path \(path) does not exist"
        case let .unreadable(path): return "cannot read corpus file \(path)"
        case let .notUTF8(path, offset, why):
            return "corpus file \(path) is not UTF-8 text: byte offset \(offset) is \(why) (mesa reads UTF-8 text only; convert it, e.g. iconv -f latin1 -t utf-8)"
        case let .empty(paths, skipped):
            return "the corpus \(paths.joined(separator: ", ")) holds no text" + (skipped > 0 ? " (\(skipped) file(s) skipped as not UTF-8 text)" : "")
        case let .tooSmall(part, bytes, needed, total):
            return "the corpus (\(total) bytes) is smaller than one context: its \(part) part has \(bytes) bytes and a window of the context length needs \(needed); give more text or a shorter --length"
        case let .changed(paths, recorded, now):
            return "the corpus \(paths.joined(separator: ", ")) changed since the run was made (recorded \(recorded); now \(now))"
        case let .invalid(why): return why
        }
    }
}
