/// Canonical JSON, the form every audit payload is stored and hashed in:
/// - object members sorted by the UTF-8 bytes of their names, no insignificant whitespace;
/// - integers in plain decimal; other numbers in Swift's shortest round-trip form, with a
///   floating-point value that is integral and below 2^53 written as an integer;
/// - strings as UTF-8 with only `"`, `\` and control characters escaped (`\n`, `\r`, `\t`,
///   `\b`, `\f` short forms, else `\u00XX` in lower case).
/// Two equal `JSONValue`s always produce the same bytes.
extension JSONValue {
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        writeCanonical(into: &out)
        return out
    }

    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    public func writeCanonical(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.rounded() == d, abs(d) < 9_007_199_254_740_992 {
                out.append(contentsOf: String(Int64(d)).utf8)
            } else if d.isFinite {
                out.append(contentsOf: "\(d)".utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                element.writeCanonical(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, member) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.writeCanonical(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `s` as a canonical JSON string (quotes, escapes) to `out`.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        // Through the contiguous bytes, not the String's UTF8View, which iterates index by index.
        var s = s
        s.withUTF8 { writeString(bytes: $0, into: &out) }
    }

    /// The same for a string's UTF-8 bytes (straight from a database row, say).
    @inlinable
    public static func writeString<Bytes: Collection>(bytes: Bytes, into out: inout [UInt8]) where Bytes.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        if !bytes.contains(where: needsEscape) {
            out.append(contentsOf: bytes)
        } else {
            for byte in bytes { writeEscaped(byte) { out.append($0) } }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The same written at `out`, which must have room for `2 + 6 * bytes.count` bytes (every
    /// byte escaped as `\u00XX`); returns how many were written. For loops that size their
    /// buffer once instead of appending byte by byte.
    @inlinable
    public static func writeString(bytes: UnsafeBufferPointer<UInt8>, at out: UnsafeMutablePointer<UInt8>) -> Int {
        var count = 0
        out[count] = UInt8(ascii: "\"")
        count += 1
        if !bytes.contains(where: needsEscape), let base = bytes.baseAddress {
            (out + count).update(from: base, count: bytes.count)
            count += bytes.count
        } else {
            for byte in bytes { writeEscaped(byte) { out[count] = $0; count += 1 } }
        }
        out[count] = UInt8(ascii: "\"")
        return count + 1
    }

    /// Whether a byte cannot stand for itself in a JSON string.
    @inlinable @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") }

    /// A byte as it stands in a canonical JSON string, given to `emit` one output byte at a time.
    @inlinable @inline(__always)
    static func writeEscaped(_ byte: UInt8, _ emit: (UInt8) -> Void) {
        switch byte {
        case UInt8(ascii: "\""): emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "\\"))
        case 0x0A: emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "n"))
        case 0x0D: emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "r"))
        case 0x09: emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "t"))
        case 0x08: emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "b"))
        case 0x0C: emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "f"))
        case 0..<0x20:
            emit(UInt8(ascii: "\\")); emit(UInt8(ascii: "u")); emit(UInt8(ascii: "0")); emit(UInt8(ascii: "0"))
            emit(hexDigit(byte >> 4))
            emit(hexDigit(byte & 0xF))
        default: emit(byte)
        }
    }
}

/// Lower-case hex of bytes, without Foundation's formatter: the audit log hexes two hashes per
/// event.
public func lowercaseHex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    lowercaseHex(Array(bytes))
}

/// The same for an array, written straight into the string's storage.
public func lowercaseHex(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBufferPointer { lowercaseHex($0) }
}

public func lowercaseHex(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        for index in 0..<bytes.count {
            let byte = bytes[index]
            out[2 * index] = hexDigit(byte >> 4)
            out[2 * index + 1] = hexDigit(byte & 0x0f)
        }
        return bytes.count * 2
    }
}

/// A nibble's lower-case hex digit, by arithmetic (a table in a global costs a once-check per use).
@inlinable @inline(__always)
public func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }

extension JSONValue {
    /// This value with every string longer than `maxString` bytes cut to that many bytes and
    /// marked with its full length and `digest` of the whole, so that an agent cannot make one
    /// audit record arbitrarily large while the record still identifies what was sent.
    public func boundedStrings(_ maxString: Int, digest: (String) -> String) -> JSONValue {
        switch self {
        case .string(let text) where text.utf8.count > maxString:
            let kept = String(decoding: text.utf8.prefix(maxString), as: UTF8.self)
            return .string(kept + "…[cut: \(text.utf8.count) bytes, \(digest(text))]")
        case .array(let values): return .array(values.map { $0.boundedStrings(maxString, digest: digest) })
        case .object(let members): return .object(members.mapValues { $0.boundedStrings(maxString, digest: digest) })
        default: return self
        }
    }
}
