import Foundation
import WardenWire

// JSONValue and Codable types, through Foundation's coders (kept out of WardenWire, which the
// sandboxed agent runtime links, so that it carries no Foundation).
extension JSONValue {
    /// Converts an `Encodable` value through JSONEncoder.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONValue.parse(Array(data))
    }

    /// Decodes a `Decodable` value from this JSON value.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(canonicalBytes))
    }
}
