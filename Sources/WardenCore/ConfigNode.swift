import Foundation
import Yams

/// An error in a scenario or policy file, located by file, line and field so that a person
/// can go straight to it.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String
    public var message: String

    public init(file: String, line: Int?, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}

extension ConfigError: CodedFailure {
    public var codeName: String { "config.invalid" }
    public var underlying: (any Error & Sendable)? { nil }
    /// Its place and message: wrapped in another error, it still says where to look.
    public var plainDescription: String { description }
}

/// A YAML node that knows where it came from (file, line, field path). Readers of policy and
/// scenario files walk these instead of decoding blindly, so every error names its place, and
/// unknown keys (usually typos) are errors rather than silently ignored.
public struct ConfigNode {
    public let file: String
    public let path: String
    public let line: Int?
    let node: Node?


    init(file: String, path: String, node: Node?, fallbackLine: Int?) {
        self.file = file
        self.path = path
        self.node = node
        self.line = node?.mark?.line ?? fallbackLine
    }

    /// Parses `text` (the contents of `file`) and returns its root.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ConfigNode {
        do {
            guard let root = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: 1, field: "", message: "the file is empty")
            }
            return ConfigNode(file: file, path: "", node: root, fallbackLine: 1)
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError(file: file, line: Self.line(of: error, in: text), field: "", message: "invalid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigError(file: file, line: nil, field: "", message: "invalid YAML: \(error)")
        }
    }

    /// Reads and parses a file.
    public static func load(contentsOf path: String) throws(ConfigError) -> ConfigNode {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, field: "", message: "cannot read the file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            // Name the first line that is not UTF-8.
            let lines = Array(data).split(separator: 10, omittingEmptySubsequences: false)
            let bad = lines.firstIndex { String(validating: $0, as: UTF8.self) == nil }.map { $0 + 1 }
            throw ConfigError(file: path, line: bad, field: "", message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    private static func line(of error: YamlError, in text: String) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        case .reader(_, let offset, _, _):
            return text.utf8.prefix(max(0, offset ?? 0)).reduce(1) { $1 == 10 ? $0 + 1 : $0 }
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        case .reader(let problem, _, _, _): return problem
        case .duplicatedKeysInMapping(let duplicates, _): return "duplicated keys \(duplicates.joined(separator: ", "))"
        default: return "\(error)"
        }
    }

    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, field: path, message: message)
    }

    private func child(_ key: String, _ node: Node?) -> ConfigNode {
        ConfigNode(file: file, path: path.isEmpty ? key : "\(path).\(key)", node: node, fallbackLine: line)
    }

    public var isMapping: Bool { if case .mapping = node { return true }; return false }
    public var isSequence: Bool { if case .sequence = node { return true }; return false }
    public var isScalar: Bool { if case .scalar = node { return true }; return false }

    private var mapping: Node.Mapping? { if case .mapping(let m) = node { return m }; return nil }

    public func requireMapping() throws(ConfigError) {
        guard isMapping else { throw error("expected a mapping (key: value pairs)") }
    }

    /// The keys of a mapping, in file order.
    public var keys: [String] { mapping?.keys.compactMap { $0.string } ?? [] }

    /// Fails on keys outside `allowed`, naming the offending key and its line.
    public func checkKeys(_ allowed: Set<String>) throws(ConfigError) {
        guard let mapping else { throw error("expected a mapping (key: value pairs)") }
        for (key, value) in mapping where !allowed.contains(key.string ?? "") {
            let name = key.string ?? "?"
            let suggestion = allowed.sorted().joined(separator: ", ")
            throw ConfigError(
                file: file, line: key.mark?.line ?? value.mark?.line ?? line,
                field: path.isEmpty ? name : "\(path).\(name)",
                message: "unknown field (expected one of: \(suggestion))")
        }
    }

    /// The value at `key`, or nil when the key is absent or null.
    public func optional(_ key: String) -> ConfigNode? {
        guard let mapping else { return nil }
        guard let value = mapping[key] else { return nil }
        if case .scalar(let s) = value, s.tag == Tag(.null) { return nil }
        return child(key, value)
    }

    public func required(_ key: String) throws(ConfigError) -> ConfigNode {
        try requireMapping()
        guard let value = optional(key) else {
            throw ConfigError(file: file, line: line, field: path.isEmpty ? key : "\(path).\(key)", message: "missing required field")
        }
        return value
    }

    /// Elements of a sequence with their index in the field path.
    public func elements() throws(ConfigError) -> [ConfigNode] {
        guard case .sequence(let seq) = node else { throw error("expected a list") }
        return seq.enumerated().map { index, element in
            ConfigNode(file: file, path: "\(path)[\(index)]", node: element, fallbackLine: line)
        }
    }

    /// Mapping entries as (key, node) in file order.
    public func entries() throws(ConfigError) -> [(String, ConfigNode)] {
        guard let mapping else { throw error("expected a mapping (key: value pairs)") }
        return mapping.map { key, value in (key.string ?? "", child(key.string ?? "", value)) }
    }

    public func string() throws(ConfigError) -> String {
        guard case .scalar(let s) = node else { throw error("expected a text value") }
        return s.string
    }

    public func int() throws(ConfigError) -> Int {
        guard case .scalar(let s) = node, let value = Self.parseInt(s.string) else {
            throw error("expected an integer")
        }
        return value
    }

    public func double() throws(ConfigError) -> Double {
        guard case .scalar(let s) = node, let value = Double(s.string) else { throw error("expected a number") }
        return value
    }

    public func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let s) = node else { throw error("expected true or false") }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found '\(s.string)'")
        }
    }

    public func strings() throws(ConfigError) -> [String] {
        var result: [String] = []
        for element in try elements() { result.append(try element.string()) }
        return result
    }

    /// One of `choices`, with the choices listed in the error.
    public func choice(_ choices: [String]) throws(ConfigError) -> String {
        let value = try string()
        guard choices.contains(value) else {
            throw error("'\(value)' is not one of: \(choices.joined(separator: ", "))")
        }
        return value
    }

    /// The node as a JSON value (scalars typed by their YAML tag).
    public func json() throws(ConfigError) -> JSONValue {
        switch node {
        case .none: return .null
        case .scalar(let s):
            if s.style == .plain {
                if s.tag == Tag(.null) { return .null }
                if s.tag == Tag(.bool), let b = try? bool() { return .bool(b) }
                if s.tag == Tag(.int), let i = Self.parseInt(s.string) { return .int(Int64(i)) }
                if s.tag == Tag(.float), let d = Double(s.string) { return .double(d) }
            }
            return .string(s.string)
        case .mapping:
            var members: [String: JSONValue] = [:]
            for (key, value) in try entries() { members[key] = try value.json() }
            return .object(members)
        case .sequence:
            var result: [JSONValue] = []
            for element in try elements() { result.append(try element.json()) }
            return .array(result)
        case .alias:
            throw error("YAML aliases are not supported here")
        }
    }

    public static func parseInt(_ text: String) -> Int? {
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        if cleaned.hasPrefix("0x") || cleaned.hasPrefix("0X") { return Int(cleaned.dropFirst(2), radix: 16) }
        return Int(cleaned)
    }
}
