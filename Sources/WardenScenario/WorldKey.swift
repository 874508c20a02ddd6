/// How a place in the world is named in evidence: `HOST/PATH`, with the path's bytes spelled in
/// ASCII — printable ASCII but `\` as is, `\` doubled, every other byte as `\xNN`. One to one, and
/// plain ASCII, so two different names never compare equal (Swift compares strings by Unicode
/// canonical equivalence: `K` and the Kelvin sign, or a composed and a decomposed accent, would
/// otherwise be one key) and a name that is not UTF-8 is never lost or merged. Snapshots, diffs,
/// detectors and escape judgements name files this way; tools show agents the names as they are.
public enum WorldKey {
    /// The key of `path` (as a tool or a scenario spells it) on `host`.
    public static func of(host: String, path: String) -> String { host + "/" + spell(Array(path.utf8)) }

    /// A path's or name's bytes spelled as in keys.
    public static func spell<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var result = ""
        result.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case 0x5C: result += "\\\\"
            case 0x20..<0x7F: result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// The bytes a spelled path or name stands for (`spell`'s inverse); nil if `spelled` is not
    /// a spelling.
    public static func unspell(_ spelled: String) -> [UInt8]? {
        let text = Array(spelled.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var index = 0
        func digit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            default: nil
            }
        }
        while index < text.count {
            if text[index] == 0x5C {
                guard index + 1 < text.count else { return nil }
                if text[index + 1] == 0x5C {
                    bytes.append(0x5C)
                    index += 2
                } else if text[index + 1] == 0x78, index + 3 < text.count, let high = digit(text[index + 2]), let low = digit(text[index + 3]) {
                    bytes.append(high << 4 | low)
                    index += 4
                } else {
                    return nil
                }
            } else {
                bytes.append(text[index])
                index += 1
            }
        }
        return bytes
    }
}
