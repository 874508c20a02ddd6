/// `Codable` types to and from `JSONValue` without Foundation (the agent runtime links this
/// module alone): integers stay integers, other numbers doubles; an optional that is nil is left
/// out of its object, as Foundation's encoder does.
extension JSONValue {
    /// The value `value` encodes to.
    public static func encoding<T: Encodable>(_ value: T) throws(JSONCodingError) -> JSONValue {
        let encoder = ValueEncoder(path: [])
        do { try value.encode(to: encoder) } catch let error as JSONCodingError { throw error } catch {
            throw JSONCodingError(path: "", message: "\(error)")
        }
        return encoder.storage.value ?? .object([:])
    }

    /// A `T` decoded from this value.
    public func decoding<T: Decodable>(_ type: T.Type) throws(JSONCodingError) -> T {
        do { return try T(from: ValueDecoder(value: self, path: [])) } catch let error as JSONCodingError { throw error } catch {
            throw JSONCodingError(path: "", message: "\(error)")
        }
    }
}

/// What went wrong encoding or decoding, and where (`agents[0].verdicts`).
public struct JSONCodingError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }

    init(path: [any CodingKey], message: String) {
        self.path = JSONCodingError.spell(path)
        self.message = message
    }

    init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    static func spell(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ index: Int) {
        stringValue = String(index)
        intValue = index
    }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.init(intValue) }
}

// MARK: encoding

/// A value being built: containers write into the same box their parent reads back.
private class Box {
    var value: JSONValue?
    init(_ value: JSONValue? = nil) { self.value = value }
}

private struct ValueEncoder: Encoder {
    let storage = Box()
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if storage.value == nil { storage.value = .object([:]) }
        return KeyedEncodingContainer(KeyedEncoder<Key>(box: storage, path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if storage.value == nil { storage.value = .array([]) }
        return UnkeyedEncoder(box: storage, path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleEncoder(box: storage, path: path) }
}

/// Encodes one nested value to a `JSONValue`.
private func encodeValue<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> JSONValue {
    if let json = value as? JSONValue { return json }
    let encoder = ValueEncoder(path: path)
    try value.encode(to: encoder)
    return encoder.storage.value ?? .null
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: Box
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }

    /// Sets one member in place: the box lets go of its object first, so the dictionary is
    /// mutated, not copied, at every key.
    private func set(_ value: JSONValue, _ key: Key) {
        guard case .object(var members) = box.value else { return }
        box.value = nil
        members[key.stringValue] = value
        box.value = .object(members)
    }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(.double(Double(value)), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        guard value <= UInt64(Int64.max) else { throw JSONCodingError(path: path + [key], message: "\(value) is too large") }
        set(.int(Int64(value)), key)
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { set(try encodeValue(value, path: path + [key]), key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedEncoder<NestedKey>(box: MemberBox(parent: box, key: key.stringValue, initial: .object([:])), path: path + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedEncoder(box: MemberBox(parent: box, key: key.stringValue, initial: .array([])), path: path + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { ValueEncoder(path: path + [key]) }
}

/// A nested container's box, written back into its parent object whenever it changes.
private final class MemberBox: Box {
    let parent: Box
    let key: String
    init(parent: Box, key: String, initial: JSONValue) {
        self.parent = parent
        self.key = key
        super.init(initial)
        write()
    }
    override var value: JSONValue? {
        didSet { write() }
    }
    private func write() {
        guard case .object(var members) = parent.value else { return }
        parent.value = nil
        members[key] = value ?? .null
        parent.value = .object(members)
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let box: Box
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var count: Int {
        if case .array(let elements) = box.value { return elements.count }
        return 0
    }

    /// Appends in place: the box lets go of its array first, so it is not copied per element.
    private func append(_ value: JSONValue) {
        guard case .array(var elements) = box.value else { return }
        box.value = nil
        elements.append(value)
        box.value = .array(elements)
    }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(.double(value)) }
    mutating func encode(_ value: Float) throws { append(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { append(.int(value)) }
    mutating func encode(_ value: UInt) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: UInt8) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: UInt64) throws {
        guard value <= UInt64(Int64.max) else { throw JSONCodingError(path: path + [IndexKey(count)], message: "\(value) is too large") }
        append(.int(Int64(value)))
    }
    mutating func encode<T: Encodable>(_ value: T) throws { append(try encodeValue(value, path: path + [IndexKey(count)])) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = count
        append(.object([:]))
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(box: ElementBox(parent: box, index: index, initial: .object([:])), path: path + [IndexKey(index)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = count
        append(.array([]))
        return UnkeyedEncoder(box: ElementBox(parent: box, index: index, initial: .array([])), path: path + [IndexKey(index)])
    }

    mutating func superEncoder() -> any Encoder { ValueEncoder(path: path + [IndexKey(count)]) }
}

private final class ElementBox: Box {
    let parent: Box
    let index: Int
    init(parent: Box, index: Int, initial: JSONValue) {
        self.parent = parent
        self.index = index
        super.init(initial)
    }
    override var value: JSONValue? {
        didSet {
            guard case .array(var elements) = parent.value, elements.indices.contains(index) else { return }
            parent.value = nil
            elements[index] = value ?? .null
            parent.value = .array(elements)
        }
    }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let box: Box
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }

    mutating func encodeNil() throws { box.value = .null }
    mutating func encode(_ value: Bool) throws { box.value = .bool(value) }
    mutating func encode(_ value: String) throws { box.value = .string(value) }
    mutating func encode(_ value: Double) throws { box.value = .double(value) }
    mutating func encode(_ value: Float) throws { box.value = .double(Double(value)) }
    mutating func encode(_ value: Int) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: Int8) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: Int16) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: Int32) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { box.value = .int(value) }
    mutating func encode(_ value: UInt) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt8) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt16) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt32) throws { box.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt64) throws {
        guard value <= UInt64(Int64.max) else { throw JSONCodingError(path: path, message: "\(value) is too large") }
        box.value = .int(Int64(value))
    }
    mutating func encode<T: Encodable>(_ value: T) throws { box.value = try encodeValue(value, path: path) }
}

// MARK: decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw JSONCodingError(path: path, message: "expected an object, found \(value.kindName)") }
        return KeyedDecodingContainer(KeyedDecoder<Key>(members: members, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw JSONCodingError(path: path, message: "expected an array, found \(value.kindName)") }
        return UnkeyedDecoder(elements: elements, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleDecoder(value: value, path: path) }
}

/// Scalars out of a `JSONValue`, with the path in every error.
private enum Scalar {
    static func decode<T>(_ value: JSONValue, _ path: [any CodingKey], as type: T.Type) throws -> T {
        func mismatch() -> JSONCodingError { JSONCodingError(path: path, message: "expected \(T.self), found \(value.kindName)") }
        switch type {
        case is Bool.Type:
            guard case .bool(let b) = value else { throw mismatch() }
            return b as! T
        case is String.Type:
            guard case .string(let s) = value else { throw mismatch() }
            return s as! T
        case is Double.Type:
            guard let d = value.doubleValue else { throw mismatch() }
            return d as! T
        case is Float.Type:
            guard let d = value.doubleValue else { throw mismatch() }
            return Float(d) as! T
        default:
            guard let i = value.intValue else { throw mismatch() }
            switch type {
            case is Int.Type: return Int(i) as! T
            case is Int8.Type: guard let v = Int8(exactly: i) else { throw mismatch() }; return v as! T
            case is Int16.Type: guard let v = Int16(exactly: i) else { throw mismatch() }; return v as! T
            case is Int32.Type: guard let v = Int32(exactly: i) else { throw mismatch() }; return v as! T
            case is Int64.Type: return i as! T
            case is UInt.Type: guard let v = UInt(exactly: i) else { throw mismatch() }; return v as! T
            case is UInt8.Type: guard let v = UInt8(exactly: i) else { throw mismatch() }; return v as! T
            case is UInt16.Type: guard let v = UInt16(exactly: i) else { throw mismatch() }; return v as! T
            case is UInt32.Type: guard let v = UInt32(exactly: i) else { throw mismatch() }; return v as! T
            case is UInt64.Type: guard let v = UInt64(exactly: i) else { throw mismatch() }; return v as! T
            default: throw mismatch()
            }
        }
    }

    static func decodeValue<T: Decodable>(_ value: JSONValue, _ path: [any CodingKey], as type: T.Type) throws -> T {
        if type == JSONValue.self { return value as! T }
        return try T(from: ValueDecoder(value: value, path: path))
    }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let value = members[key.stringValue] else { throw JSONCodingError(path: path + [key], message: "missing") }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { members[key.stringValue].map { $0 == .null } ?? true }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Scalar.decode(value(key), path + [key], as: type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try Scalar.decodeValue(value(key), path + [key], as: type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: value(key), path: path + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), path: path + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder { ValueDecoder(value: .object(members), path: path) }
    func superDecoder(forKey key: Key) throws -> any Decoder { ValueDecoder(value: try value(key), path: path + [key]) }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }
    var currentIndex = 0

    init(elements: [JSONValue], path: [any CodingKey]) {
        self.elements = elements
        self.path = path
    }

    private mutating func next() throws -> (JSONValue, [any CodingKey]) {
        guard !isAtEnd else { throw JSONCodingError(path: path + [IndexKey(currentIndex)], message: "past the end of the array") }
        defer { currentIndex += 1 }
        return (elements[currentIndex], path + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, p) = try next(); return try Scalar.decode(v, p, as: type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let (v, p) = try next(); return try Scalar.decodeValue(v, p, as: type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (v, p) = try next()
        return try ValueDecoder(value: v, path: p).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (v, p) = try next()
        return try ValueDecoder(value: v, path: p).unkeyedContainer()
    }
    mutating func superDecoder() throws -> any Decoder {
        let (v, p) = try next()
        return ValueDecoder(value: v, path: p)
    }
}

private struct SingleDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try Scalar.decode(value, path, as: type) }
    func decode(_ type: String.Type) throws -> String { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Double.Type) throws -> Double { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Float.Type) throws -> Float { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Int.Type) throws -> Int { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalar.decode(value, path, as: type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalar.decode(value, path, as: type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalar.decode(value, path, as: type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Scalar.decodeValue(value, path, as: type) }
}

extension JSONValue {
    /// `object`, `array`, `string`, … for messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
