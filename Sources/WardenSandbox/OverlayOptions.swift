/// Text for an overlay mount's options, where `,` separates options, `:` separates layers and
/// `\` escapes either.
public enum OverlayOptions {
    /// `path` with each `,`, `:` and `\` escaped by a `\`. Byte by byte: the kernel parses the
    /// options as bytes, so a `,` followed by a combining mark (one Swift Character) is still a
    /// `,` to it, and is escaped.
    public static func escaped(_ path: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(path.utf8.count)
        for byte in path.utf8 {
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        // Only ASCII bytes are added, each before an ASCII byte: the result is as valid UTF-8 as `path`.
        return String(decoding: bytes, as: UTF8.self)
    }
}
