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
}
