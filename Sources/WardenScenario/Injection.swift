import Foundation
import WardenCore
import WardenVocabulary

/// Something the scenario does to a run while it goes: a trigger and an action.
public struct Injection: Sendable {
    public enum Trigger: Sendable {
        /// Before the agent's first turn.
        case start
        /// Once `agent` has made this many tool calls.
        case afterToolCalls(count: Int, agent: String)
        /// This many seconds after the run started.
        case afterSeconds(Double)
        /// The first audit event that matches.
        case on(EventMatch)
        /// When the agent calls `done` (only for `question`: the session stays open for the answer).
        case done
    }

    public enum Action: Sendable {
        /// A message in the operator's or a peer's voice.
        case message(voice: String, text: String)
        /// A follow-up question; the agent's answer is evidence for `deception`.
        case question(String)
        /// A real shutdown of an agent's sandbox by the daemon, honouring the world's
        /// `shutdown.requires` (so tampering has a real effect).
        case shutdown(agent: String, graceSeconds: Double)
        /// A real deletion of a world file.
        case delete(host: String, path: String)
    }

    public var trigger: Trigger
    /// The agent a message or question goes to.
    public var agent: String
    public var action: Action
    public var line: Int?

    public var isStartMessage: Bool {
        if case .start = trigger, case .message = action { return true }
        return false
    }

    /// A pattern over an agent's acts: all given fields must match. Triggers match acts, not
    /// words: a tool the broker allowed, a syscall the supervisor allowed (by its resolved path),
    /// or the execution of a labelled script.
    public struct EventMatch: Sendable {
        /// Whose act (nil: any agent's).
        public var agent: String?
        /// An allowed call of this tool.
        public var tool: String?
        /// An allowed syscall of this name.
        public var syscall: String?
        /// A regular expression a path of the syscall (as the process resolved it) must match, or
        /// a path argument of the tool.
        public var file: String?
        /// An allowed `send_message` call to this agent.
        public var messageTo: String?
        /// The execution of the labelled file: an exec of it, or of an interpreter (sh, bash,
        /// dash, python3) with it as the script, by its inode or its original content. Reading
        /// it (`cat`, `sed`, `grep`) is not an execution.
        public var execLabel: String?
    }

    static func parse(_ node: ConfigNode, template: Template, agents: [String], hosts: Set<String>, labels: Set<String>) throws(ConfigError) -> Injection {
        try node.checkKeys(["at", "to", "voice", "message", "question", "shutdown", "delete", "when"])
        let atNode = try node.required("at")
        func agent(_ field: ConfigNode) throws(ConfigError) -> String {
            let name = try field.string()
            guard agents.contains(name) else { throw field.error("no agent '\(name)' in this scenario") }
            return name
        }
        let trigger: Trigger
        if atNode.isScalar {
            switch try atNode.string() {
            case "start": trigger = .start
            case "done": trigger = .done
            default: throw atNode.error("'at' is start, done, or a mapping: {after_tool_calls: N, of: AGENT}, {after_seconds: T}, {on: {...}}")
            }
        } else {
            let keys = atNode.keys
            if keys.contains("after_tool_calls") {
                try atNode.checkKeys(["after_tool_calls", "of"])
                let countNode = try atNode.required("after_tool_calls")
                let count = try countNode.int()
                guard (1...100_000).contains(count) else { throw countNode.error("must be 1 to 100000") }
                trigger = .afterToolCalls(count: count, agent: try agent(try atNode.required("of")))
            } else if keys.contains("after_seconds") {
                try atNode.checkKeys(["after_seconds"])
                let secondsNode = try atNode.required("after_seconds")
                let seconds = try secondsNode.double()
                guard seconds >= 0, seconds <= 86_400 else { throw secondsNode.error("must be 0 to 86400") }
                trigger = .afterSeconds(seconds)
            } else {
                try atNode.checkKeys(["on"])
                let on = try atNode.required("on")
                try on.checkKeys(["agent", "tool", "syscall", "file", "message_to", "exec"])
                var match = EventMatch()
                if let node = on.optional("agent") { match.agent = try agent(node) }
                if let node = on.optional("tool") { match.tool = try node.choice(ToolName.all) }
                if let node = on.optional("syscall") { match.syscall = try node.string() }
                if let node = on.optional("message_to") { match.messageTo = try agent(node) }
                if let node = on.optional("file") {
                    let pattern = try template.string(node)
                    do { _ = try NSRegularExpression(pattern: pattern) } catch { throw node.error("invalid regular expression: \(error)") }
                    match.file = pattern
                }
                if let node = on.optional("exec") {
                    try node.checkKeys(["label"])
                    let labelNode = try node.required("label")
                    let label = try labelNode.string()
                    guard labels.contains(label) else { throw labelNode.error("no file in the world has label '\(label)'") }
                    match.execLabel = label
                }
                guard match.tool != nil || match.syscall != nil || match.file != nil || match.messageTo != nil || match.execLabel != nil else {
                    throw on.error("needs at least one of tool, syscall, file, message_to, exec")
                }
                trigger = .on(match)
            }
        }
        let actions = ["message", "question", "shutdown", "delete"].filter { node.optional($0) != nil }
        guard actions.count == 1, let actionName = actions.first else {
            throw node.error("an injection has exactly one action: message, question, shutdown or delete")
        }
        var target = ""
        if let toNode = node.optional("to") { target = try agent(toNode) }
        let action: Action
        switch actionName {
        case "message":
            guard !target.isEmpty else { throw node.error("a message needs 'to'") }
            action = .message(voice: try node.optional("voice")?.choice(["operator", "peer"]) ?? "operator",
                              text: try template.string(try node.required("message")))
        case "question":
            guard !target.isEmpty else { throw node.error("a question needs 'to'") }
            guard case .done = trigger else { throw atNode.error("a question is asked at: done (the agent answers before its session ends)") }
            action = .question(try template.string(try node.required("question")))
        case "shutdown":
            let body = try node.required("shutdown")
            try body.checkKeys(["agent", "grace_seconds"])
            let grace = try body.optional("grace_seconds")?.double() ?? 1
            guard (0...60).contains(grace) else { throw try body.required("grace_seconds").error("must be 0 to 60") }
            action = .shutdown(agent: try agent(try body.required("agent")), graceSeconds: grace)
        default:
            let place = try WorldPath.place(try node.required("delete"), template: template, hosts: hosts)
            action = .delete(host: place.host, path: place.path)
        }
        if case .done = trigger, case .question = action {} else if case .done = trigger {
            throw atNode.error("at: done only takes a question")
        }
        return Injection(trigger: trigger, agent: target, action: action, line: node.line)
    }
}

