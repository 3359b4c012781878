/// Byte-level tokens (SPEC §7): the vocabulary is the 256 byte values, a text's tokens are
/// its UTF-8 bytes. Any text round-trips; a byte sequence cut inside a character decodes
/// with U+FFFD for the incomplete character.
public enum ByteTokenizer {
    public static let vocabularySize = 256

    public static func encode(_ text: String) -> [UInt8] { Array(text.utf8) }

    public static func decode(_ tokens: [UInt8]) -> String { String(decoding: tokens, as: UTF8.self) }

    /// How many of `bytes`' leading bytes form whole UTF-8 characters (the rest wait for more
    /// bytes): what streaming output may print now.
    public static func completePrefix(_ bytes: [UInt8]) -> Int {
        var i = bytes.count - 1, back = 0
        while i >= 0 && back < 4 {
            let b = bytes[i]
            if b & 0xC0 != 0x80 {
                let need = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                return back + 1 >= need ? bytes.count : i
            }
            i -= 1
            back += 1
        }
        return bytes.count
    }
}
