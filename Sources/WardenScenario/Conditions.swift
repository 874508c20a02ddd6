import Foundation
import WardenCore

/// The experimental conditions of a scenario: named axes (subject, relationship, monitoring,
/// …), each with its values. The engine crosses them into cells; a cell is one value per axis.
public struct Conditions: Sendable, Equatable {
    public struct Axis: Sendable, Equatable {
        public var name: String
        public var values: [String]
    }

    public var axes: [Axis]

    public init(axes: [Axis] = []) { self.axes = axes }

    /// Every cell, in file order (the first axis varies slowest).
    public var cells: [Cell] {
        axes.reduce([Cell()]) { partial, axis in
            partial.flatMap { cell in axis.values.map { value in cell.setting(axis.name, to: value) } }
        }
    }

    /// The cell a run gets when none is named: the first value of every axis.
    public var defaultCell: Cell { Cell(values: axes.map { ($0.name, $0.values[0]) }) }

    static func parse(_ node: ConfigNode?) throws(ConfigError) -> Conditions {
        guard let node else { return Conditions() }
        var axes: [Axis] = []
        for (name, valuesNode) in try node.entries() {
            guard Self.isName(name) else { throw valuesNode.error("an axis name is letters, digits and '_'") }
            let values = try valuesNode.strings()
            guard !values.isEmpty else { throw valuesNode.error("an axis needs at least one value") }
            guard Set(values).count == values.count else { throw valuesNode.error("a value is listed twice") }
            for value in values where !Self.isName(value) {
                throw valuesNode.error("condition value '\(value)' must be letters, digits, '-' and '_'")
            }
            axes.append(Axis(name: name, values: values))
        }
        return Conditions(axes: axes)
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
    }

    /// Checks a cell given by a caller (e.g. `--cell monitoring=unmonitored`); missing axes take
    /// their first value.
    public func complete(_ given: [String: String], file: String) throws(ConfigError) -> Cell {
        for (axis, value) in given {
            guard let known = axes.first(where: { $0.name == axis }) else {
                throw ConfigError(file: file, line: nil, field: "conditions", message: "no condition axis '\(axis)' (axes: \(axes.map(\.name).joined(separator: ", ")))")
            }
            guard known.values.contains(value) else {
                throw ConfigError(file: file, line: nil, field: "conditions.\(axis)",
                                  message: "'\(value)' is not a value of '\(axis)' (values: \(known.values.joined(separator: ", ")))")
            }
        }
        return Cell(values: axes.map { ($0.name, given[$0.name] ?? $0.values[0]) })
    }

    /// Checks a `when:` mapping (axis → value or list of values) against the axes and returns
    /// whether `cell` satisfies it.
    func matches(_ node: ConfigNode?, cell: Cell) throws(ConfigError) -> Bool {
        guard let node else { return true }
        var matched = true
        for (axisName, valueNode) in try node.entries() {
            guard let axis = axes.first(where: { $0.name == axisName }) else {
                throw valueNode.error("no condition axis '\(axisName)' (define it under conditions:)")
            }
            let wanted = valueNode.isSequence ? try valueNode.strings() : [try valueNode.string()]
            for value in wanted where !axis.values.contains(value) {
                throw valueNode.error("'\(value)' is not a value of condition '\(axisName)' (values: \(axis.values.joined(separator: ", ")))")
            }
            if !wanted.contains(cell[axisName] ?? "") { matched = false }
        }
        return matched
    }
}

/// One value per condition axis, in axis order.
public struct Cell: Sendable, Hashable, CustomStringConvertible {
    public var values: [(axis: String, value: String)]

    public init(values: [(String, String)] = []) { self.values = values.map { (axis: $0.0, value: $0.1) } }

    public subscript(axis: String) -> String? { values.first { $0.axis == axis }?.value }

    func setting(_ axis: String, to value: String) -> Cell {
        var copy = self
        copy.values.append((axis, value))
        return copy
    }

    /// `axis=value,axis=value` (empty for a scenario without conditions).
    public var description: String { values.map { "\($0.axis)=\($0.value)" }.joined(separator: ",") }

    public var dictionary: [String: String] { Dictionary(values.map { ($0.axis, $0.value) }, uniquingKeysWith: { a, _ in a }) }

    public var json: JSONValue { .object(dictionary.mapValues { .string($0) }) }

    /// Parses `axis=value,axis=value`.
    public static func parse(_ text: String) -> [String: String]? {
        var result: [String: String] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else { return nil }
            result[pair[0]] = pair[1]
        }
        return result
    }

    public static func == (a: Cell, b: Cell) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// `{{ name }}` substitution in scenario text. A variable's value is text, or a mapping from
/// one axis to values per condition value (nestable), so one file describes every cell.
struct Template {
    var values: [String: String]

    /// Resolves every variable for `cell`. A mapping must give a value for every value of its
    /// axis; a value for an undefined condition is an error.
    static func resolve(_ node: ConfigNode?, conditions: Conditions, cell: Cell) throws(ConfigError) -> Template {
        guard let node else { return Template(values: [:]) }
        var values: [String: String] = [:]
        for (name, valueNode) in try node.entries() {
            guard Conditions.isName(name) else { throw valueNode.error("a variable name is letters, digits and '_'") }
            values[name] = try value(valueNode, conditions: conditions, cell: cell)
        }
        var template = Template(values: values)
        // Variables may use other variables (one level of nesting is plenty; deeper is an error).
        for (name, text) in values where text.contains("{{") {
            template.values[name] = try template.render(text, at: node.optional(name) ?? node, allowNested: false)
        }
        return template
    }

    private static func value(_ node: ConfigNode, conditions: Conditions, cell: Cell) throws(ConfigError) -> String {
        if node.isScalar { return try node.string() }
        let entries = try node.entries()
        guard entries.count == 1, let (axisName, byValue) = entries.first else {
            throw node.error("a variable is text, or a mapping from one condition axis to a value per condition value")
        }
        guard let axis = conditions.axes.first(where: { $0.name == axisName }) else {
            throw node.error("no condition axis '\(axisName)' (define it under conditions:)")
        }
        let given = try byValue.entries()
        for (value, valueNode) in given where !axis.values.contains(value) {
            throw valueNode.error("'\(value)' is not a value of condition '\(axisName)' (values: \(axis.values.joined(separator: ", ")))")
        }
        for value in axis.values where !given.contains(where: { $0.0 == value }) {
            throw byValue.error("no value for \(axisName)=\(value)")
        }
        guard let chosen = given.first(where: { $0.0 == cell[axisName] })?.1 else { throw byValue.error("no value for this cell") }
        return try value(chosen, conditions: conditions, cell: cell)
    }

    /// The node's text with every `{{ name }}` replaced.
    func string(_ node: ConfigNode) throws(ConfigError) -> String {
        try render(try node.string(), at: node, allowNested: true)
    }

    func double(_ node: ConfigNode) throws(ConfigError) -> Double {
        let text = try string(node)
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else { throw node.error("expected a number, found '\(text)'") }
        return value
    }

    func render(_ text: String, at node: ConfigNode, allowNested: Bool) throws(ConfigError) -> String {
        guard text.contains("{{") else { return text }
        var output = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { throw node.error("'{{' without a closing '}}'") }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let value = values[name] else {
                throw node.error("template variable '\(name)' has no value (define it under variables:)")
            }
            if !allowNested, value.contains("{{") { throw node.error("variable '\(name)' nests templates too deeply") }
            output += value
            rest = rest[close.upperBound...]
        }
        return output + rest
    }
}
