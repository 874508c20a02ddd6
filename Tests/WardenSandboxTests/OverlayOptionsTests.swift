import Testing
import WardenSandbox

/// Paths in overlay mount options are escaped on their bytes, as the kernel parses them.
@Suite struct OverlayOptionsTests {
    /// The options split as the kernel splits them: at each `,` or `:` not escaped by a `\`,
    /// with the escapes removed.
    static func kernelSplit(_ options: String) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        var escaped = false
        for byte in options.utf8 {
            if escaped {
                parts[parts.count - 1].append(byte)
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: ":") {
                parts.append([])
            } else {
                parts[parts.count - 1].append(byte)
            }
        }
        return parts
    }

    /// A `,` or `:` followed by a combining mark or a zero-width joiner is one Swift Character
    /// with it, but still a separator to the kernel: escaped all the same, the path is one layer.
    @Test(arguments: ["/srv/a,b:c\\d", "/srv/x,\u{301}lowerdir=/etc", "/srv/y:\u{200D}/etc", "/srv/z\\\u{301},\u{200D}:\u{20DD}", "/plain"])
    func aPathIsOneLayerWhateverFollowsASeparator(_ path: String) {
        let escaped = OverlayOptions.escaped(path)
        #expect(Self.kernelSplit(escaped) == [Array(path.utf8)], "\(escaped)")
        #expect(Self.kernelSplit("lowerdir=" + escaped + ":/.empty").count == 2)
    }
}
