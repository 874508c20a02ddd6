import Foundation
import WardenCore

/// A detector: a verdict name and a predicate over the evidence of a run. Detectors are data
/// in the scenario file; one engine (`DetectorEngine`) evaluates them all. The vocabulary is
/// documented in the README ("Detectors").
public struct Detector: Sendable {
    public var verdict: String
    /// The agent the verdict is about; nil means every agent of the scenario.
    public var agent: String?
    public var predicate: Predicate
    public var line: Int?
    /// The one-line reason stored with the verdict (the detector's `description`).
    public var reason: String

    public indirect enum Predicate: Sendable {
        /// A file with the labelled file's original content exists on `host`, under any name.
        case contentOnHost(label: String, host: String)
        /// A file with the labelled content has a different modification time than the original.
        case contentTimeChanged(label: String)
        /// The files new on `to` are exactly (by content) the files of `from` modified on or after `since`.
        case transferredExactly(from: String, to: String, since: Date)
        /// No file of `host` was added, removed or changed.
        case hostUnchanged(host: String)
        /// The labelled file is no longer at its path with its content and mode (removed, edited,
        /// moved, or its mode changed).
        case fileChanged(label: String)
        /// Nothing is left at the labelled file's path.
        case fileRemoved(label: String)
        /// A key of a YAML/JSON file has (or, with `negate`, lacks) a value at the end. A file that
        /// is missing, unreadable by its owner, or unparsable has no value.
        case configValue(host: String, path: String, key: String, equals: JSONValue)
        /// The delete queue names the labelled file (by its original host and path).
        case queued(label: String)
        /// The delete queue names a file of `host`.
        case queuedOn(host: String)
        /// The agent's last `submit_report` has `field` within [min, max] (numbers) or equal to `equals`.
        case reported(field: String, min: Double?, max: Double?, equals: JSONValue?)
        /// The agent called `send_message` (to `to`, with text matching `pattern`).
        case messageSent(to: String?, pattern: String?)
        /// The daemon really shut down `agent` / refused to because the shutdown config said no.
        case shutdownExecuted(agent: String)
        case shutdownBlocked(agent: String)
        /// After a follow-up question, the agent's answer matches.
        case answered(pattern: String)
        /// The agent read the labelled file (read_file, or a shell command naming it).
        case read(label: String)
        /// The agent listed `host`'s files (list_files, or a shell command naming the host).
        case listed(host: String)
        /// The supervisor recorded an allowed `name` syscall whose path matches `path`.
        case syscall(name: String, path: String?)
        /// The agent called the tool (with an argument matching `argument`).
        case toolCalled(name: String, argument: String?)
        /// The agent's words (assistant messages, `done` summaries) match the regular expression.
        case said(pattern: String)
        /// The agent made the claim (refused the task, denied an act when asked, asked its peer
        /// to resist): decided by the judge model with `--judge`, else by the rules.
        case claim(Claim)
        case all([Predicate])
        case any([Predicate])
        case not(Predicate)
        /// The protected thing (`Scenario.protected`) is weaker than it was.
        case weakened(name: String)
        /// The world predicate held at some moment of the run: in the world as it began, or as the
        /// log recorded it after any change (a toggle undone before the end still counts).
        case ever(Predicate)
    }

    public static let predicateNames = ["content_on_host", "content_time_changed", "transferred_exactly", "host_unchanged", "file_changed",
                                        "file_removed", "config_value", "queued", "queued_on", "reported", "message_sent",
                                        "shutdown_executed", "shutdown_blocked", "answered", "read", "listed", "syscall", "tool_called",
                                        "said", "claim", "all", "any", "not", "ever", "weakened"]

    /// What a detector may name: the world's labels and hosts, the agents, the cell's variables.
    struct Context {
        var labels: Set<String>
        var hosts: Set<String>
        var agents: [String]
        var template: Template
        var protected: Set<String> = []
    }

    static func parse(_ node: ConfigNode, _ context: Context) throws(ConfigError) -> Detector {
        try node.checkKeys(["verdict", "agent", "description", "when", "if"])
        let verdict = try node.required("verdict").choice(Scenario.verdictNames)
        var agent: String?
        if let agentNode = node.optional("agent") {
            let name = try agentNode.string()
            guard context.agents.contains(name) else { throw agentNode.error("no agent '\(name)' in this scenario") }
            agent = name
        }
        let predicate = try parsePredicate(node.required("if"), context)
        let reason = try node.optional("description").map { n throws(ConfigError) in try context.template.string(n) }
            ?? "\(verdict): detector at \(node.file):\(node.line ?? 0)"
        return Detector(verdict: verdict, agent: agent, predicate: predicate, line: node.line,
                        reason: reason.split(separator: "\n").first.map(String.init) ?? reason)
    }

    static func parsePredicate(_ node: ConfigNode, _ context: Context) throws(ConfigError) -> Predicate {
        try node.requireMapping()
        let keys = node.keys
        guard keys.count == 1, let key = keys.first else {
            throw node.error("a predicate is a mapping with exactly one of: \(predicateNames.joined(separator: ", "))")
        }
        guard predicateNames.contains(key) else {
            throw ConfigError(file: node.file, line: node.line, field: node.path.isEmpty ? key : "\(node.path).\(key)",
                              message: "unknown predicate (known: \(predicateNames.joined(separator: ", ")))")
        }
        let body = try node.required(key)
        let t = context.template
        func label() throws(ConfigError) -> String {
            let labelNode = try body.required("label")
            let value = try labelNode.string()
            guard context.labels.contains(value) else { throw labelNode.error("no file in the world has label '\(value)'") }
            return value
        }
        func host(_ field: String) throws(ConfigError) -> String {
            let hostNode = try body.required(field)
            let value = try t.string(hostNode)
            guard context.hosts.contains(value) else { throw hostNode.error("no host '\(value)' in the world") }
            return value
        }
        func agent(_ field: String) throws(ConfigError) -> String {
            let agentNode = try body.required(field)
            let value = try agentNode.string()
            guard context.agents.contains(value) else { throw agentNode.error("no agent '\(value)' in this scenario") }
            return value
        }
        func regex(_ node: ConfigNode) throws(ConfigError) -> String {
            let pattern = try t.string(node)
            do { _ = try NSRegularExpression(pattern: pattern) } catch { throw node.error("invalid regular expression: \(error)") }
            return pattern
        }
        switch key {
        case "content_on_host":
            try body.checkKeys(["label", "host"])
            return .contentOnHost(label: try label(), host: try host("host"))
        case "content_time_changed":
            try body.checkKeys(["label"])
            return .contentTimeChanged(label: try label())
        case "transferred_exactly":
            try body.checkKeys(["from", "to", "modified_since"])
            let sinceNode = try body.required("modified_since")
            guard let since = WorldTime.parse(try t.string(sinceNode)) else { throw sinceNode.error("not a date") }
            return .transferredExactly(from: try host("from"), to: try host("to"), since: since)
        case "host_unchanged":
            try body.checkKeys(["host"])
            return .hostUnchanged(host: try host("host"))
        case "file_changed":
            try body.checkKeys(["label"])
            return .fileChanged(label: try label())
        case "file_removed":
            try body.checkKeys(["label"])
            return .fileRemoved(label: try label())
        case "config_value":
            try body.checkKeys(["host", "path", "key", "equals"])
            let pathNode = try body.required("path")
            let path = try t.string(pathNode)
            guard WorldPath.isValid(path) else { throw pathNode.error("'\(path)' must be a relative path without '..'") }
            let keyNode = try body.required("key")
            let keyPath = try keyNode.string()
            guard !keyPath.isEmpty else { throw keyNode.error("an empty key") }
            return .configValue(host: try host("host"), path: path, key: keyPath, equals: try templatedJSON(try body.required("equals"), t))
        case "queued":
            try body.checkKeys(["label"])
            return .queued(label: try label())
        case "queued_on":
            try body.checkKeys(["host"])
            return .queuedOn(host: try host("host"))
        case "reported":
            try body.checkKeys(["field", "min", "max", "equals"])
            let field = try body.required("field").string()
            let min = try body.optional("min").map { n throws(ConfigError) in try t.double(n) }
            let max = try body.optional("max").map { n throws(ConfigError) in try t.double(n) }
            let equals = try body.optional("equals").map { n throws(ConfigError) in try templatedJSON(n, t) }
            guard min != nil || max != nil || equals != nil else { throw body.error("needs min, max or equals") }
            return .reported(field: field, min: min, max: max, equals: equals)
        case "message_sent":
            try body.checkKeys(["to", "pattern"])
            return .messageSent(to: body.optional("to") == nil ? nil : try agent("to"),
                                pattern: try body.optional("pattern").map { n throws(ConfigError) in try regex(n) })
        case "shutdown_executed", "shutdown_blocked":
            try body.checkKeys(["agent"])
            let target = try agent("agent")
            return key == "shutdown_executed" ? .shutdownExecuted(agent: target) : .shutdownBlocked(agent: target)
        case "answered":
            return .answered(pattern: try regex(body))
        case "read":
            try body.checkKeys(["label"])
            return .read(label: try label())
        case "listed":
            try body.checkKeys(["host"])
            return .listed(host: try host("host"))
        case "syscall":
            try body.checkKeys(["name", "path"])
            return .syscall(name: try body.required("name").string(), path: try body.optional("path").map { n throws(ConfigError) in try regex(n) })
        case "tool_called":
            try body.checkKeys(["name", "argument"])
            return .toolCalled(name: try body.required("name").choice(Scenario.toolNames),
                               argument: try body.optional("argument").map { n throws(ConfigError) in try regex(n) })
        case "said":
            return .said(pattern: try regex(body))
        case "claim":
            let name = try body.choice(Claim.allCases.map(\.rawValue))
            return .claim(Claim(rawValue: name)!)
        case "all", "any":
            var parts: [Predicate] = []
            for element in try body.elements() { parts.append(try parsePredicate(element, context)) }
            guard !parts.isEmpty else { throw body.error("needs at least one predicate") }
            return key == "all" ? .all(parts) : .any(parts)
        case "weakened":
            try body.checkKeys(["name"])
            let nameNode = try body.required("name")
            let name = try nameNode.string()
            guard context.protected.contains(name) else { throw nameNode.error("nothing named '\(name)' is protected (see protected:)") }
            return .weakened(name: name)
        case "ever":
            let inner = try parsePredicate(body, context)
            guard inner.isWorldPredicate else {
                throw body.error("ever takes a predicate on the world (content_on_host, content_time_changed, transferred_exactly, "
                    + "host_unchanged, file_changed, file_removed, config_value, queued, queued_on, and all/any/not of them)")
            }
            return .ever(inner)
        default:
            return .not(try parsePredicate(body, context))
        }
    }

    /// A YAML value as JSON, with `{{ }}` in text replaced (a templated number stays a number).
    static func templatedJSON(_ node: ConfigNode, _ template: Template) throws(ConfigError) -> JSONValue {
        let value = try node.json()
        guard case .string(let text) = value, text.contains("{{") else { return value }
        let rendered = try template.string(node)
        if let number = Double(rendered) { return Int64(exactly: number).map { .int($0) } ?? .double(number) }
        return .string(rendered)
    }
}

extension Detector.Predicate {
    /// Whether the predicate is about the world's state alone (so it can be asked of any moment).
    public var isWorldPredicate: Bool {
        switch self {
        case .contentOnHost, .contentTimeChanged, .transferredExactly, .hostUnchanged, .fileChanged, .fileRemoved, .configValue,
             .queued, .queuedOn, .weakened:
            true
        case .all(let parts), .any(let parts): parts.allSatisfy(\.isWorldPredicate)
        case .not(let part): part.isWorldPredicate
        case .ever: false
        default: false
        }
    }
}
