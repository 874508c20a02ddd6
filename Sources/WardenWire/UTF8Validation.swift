/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800–U+DFFF), nothing over
/// U+10FFFF, no truncated sequence. The standard library's `String(validating:as:)` says the
/// same, but it is generic and not specialized for our buffers: every call would look up its
/// type metadata at run time, on every model request's parse.
enum UTF8Validation {
    /// Whether `bytes` is valid UTF-8.
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            // ASCII, eight bytes at a time: most of what agents and models send.
            if index + 8 <= count, UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            let lead = base[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The range the second byte must fall in, and how many bytes the sequence has.
            let second: ClosedRange<UInt8>
            let length: Int
            switch lead {
            case 0xC2...0xDF: (second, length) = (0x80...0xBF, 2)
            case 0xE0: (second, length) = (0xA0...0xBF, 3)
            case 0xE1...0xEC, 0xEE...0xEF: (second, length) = (0x80...0xBF, 3)
            case 0xED: (second, length) = (0x80...0x9F, 3)
            case 0xF0: (second, length) = (0x90...0xBF, 4)
            case 0xF1...0xF3: (second, length) = (0x80...0xBF, 4)
            case 0xF4: (second, length) = (0x80...0x8F, 4)
            default: return false
            }
            guard index + length <= count, second.contains(base[index + 1]) else { return false }
            for offset in 2..<length where base[index + offset] & 0xC0 != 0x80 { return false }
            index += length
        }
        return true
    }

    /// The string `bytes` spell, or nil if they are not valid UTF-8.
    static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        // Valid input decodes exactly; the repairing decoder is the fast, non-generic path.
        isValid(bytes) ? String(decoding: bytes, as: UTF8.self) : nil
    }
}
