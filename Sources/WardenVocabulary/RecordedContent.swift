import WardenWire

/// A world file's content as the log records it: the text, when the bytes are UTF-8; else the
/// bytes in hex; a file larger than `limit` is recorded by its size and hash only.
public enum RecordedContent: Codable, Sendable, Equatable {
    case text(String)
    case bytes([UInt8])
    case omitted(size: Int, sha256: String)

    /// Files larger than this are recorded by size and hash.
    public static let limit = 64 << 10

    public init(_ bytes: [UInt8], sha256: @autoclosure () -> String) {
        if bytes.count > Self.limit {
            self = .omitted(size: bytes.count, sha256: sha256())
        } else if let text = String(validating: bytes, as: UTF8.self) {
            self = .text(text)
        } else {
            self = .bytes(bytes)
        }
    }

    /// The bytes, when they were recorded.
    public var bytes: [UInt8]? {
        switch self {
        case .text(let text): Array(text.utf8)
        case .bytes(let bytes): bytes
        case .omitted: nil
        }
    }

    private enum Keys: String, CodingKey { case hex, size, sha256 }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .text(text)
            return
        }
        let container = try decoder.container(keyedBy: Keys.self)
        if let hex = try container.decodeIfPresent(String.self, forKey: .hex) {
            guard let bytes = Self.bytes(hex: hex) else {
                throw DecodingError.dataCorruptedError(forKey: .hex, in: container, debugDescription: "not hex")
            }
            self = .bytes(bytes)
        } else {
            self = .omitted(size: try container.decode(Int.self, forKey: .size), sha256: try container.decode(String.self, forKey: .sha256))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .text(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .bytes(let bytes):
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(lowercaseHex(bytes), forKey: .hex)
        case .omitted(let size, let sha256):
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(size, forKey: .size)
            try container.encode(sha256, forKey: .sha256)
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
