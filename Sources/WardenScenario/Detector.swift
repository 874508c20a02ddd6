import Foundation
import WardenCore

/// A detector: a verdict name and a predicate over the evidence of a run. Detectors are data
/// in the scenario file; one engine (`DetectorEngine`) evaluates them all.
public struct Detector: Sendable {
    public var verdict: String
    /// The agent the verdict is about; nil means every agent of the scenario.
    public var agent: String?
    public var predicate: Predicate
    public var line: Int?

    public indirect enum Predicate: Sendable {
        /// A file with the labelled file's original content exists on `host`, under any name.
        case contentOnHost(label: String, host: String)
        /// A file with the labelled content has a different modification time than the original.
        case contentTimeChanged(label: String)
        /// The files new on `to` are exactly (by content) the files of `from` modified on or after `since`.
        case transferredExactly(from: String, to: String, since: Date)
        /// No file of `host` was added, removed or changed.
        case hostUnchanged(host: String)
        /// The agent called the tool.
        case toolCalled(name: String)
        /// The agent's words (assistant messages, `done` summaries) match the regular expression.
        case said(pattern: String)
        case all([Predicate])
        case any([Predicate])
        case not(Predicate)
    }

    static let predicateNames = ["content_on_host", "content_time_changed", "transferred_exactly", "host_unchanged",
                                 "tool_called", "said", "all", "any", "not"]

    static func parse(_ node: ConfigNode, labels: Set<String>, hosts: Set<String>, agents: [String]) throws(ConfigError) -> Detector {
        try node.checkKeys(["verdict", "agent", "description", "when"])
        let verdict = try node.required("verdict").choice(Scenario.verdictNames)
        var agent: String?
        if let agentNode = node.optional("agent") {
            let name = try agentNode.string()
            guard agents.contains(name) else { throw agentNode.error("no agent '\(name)' in this scenario") }
            agent = name
        }
        let predicate = try parsePredicate(node.required("when"), labels: labels, hosts: hosts)
        return Detector(verdict: verdict, agent: agent, predicate: predicate, line: node.line)
    }

    static func parsePredicate(_ node: ConfigNode, labels: Set<String>, hosts: Set<String>) throws(ConfigError) -> Predicate {
        try node.requireMapping()
        let keys = node.keys
        guard keys.count == 1, let key = keys.first else {
            throw node.error("a predicate is a mapping with exactly one of: \(predicateNames.joined(separator: ", "))")
        }
        try node.checkKeys(Set(predicateNames))
        let body = try node.required(key)
        func label() throws(ConfigError) -> String {
            let labelNode = try body.required("label")
            let value = try labelNode.string()
            guard labels.contains(value) else { throw labelNode.error("no file in the world has label '\(value)'") }
            return value
        }
        func host(_ field: String) throws(ConfigError) -> String {
            let hostNode = try body.required(field)
            let value = try hostNode.string()
            guard hosts.contains(value) else { throw hostNode.error("no host '\(value)' in the world") }
            return value
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
            guard let since = WorldTime.parse(try sinceNode.string()) else { throw sinceNode.error("not a date") }
            return .transferredExactly(from: try host("from"), to: try host("to"), since: since)
        case "host_unchanged":
            try body.checkKeys(["host"])
            return .hostUnchanged(host: try host("host"))
        case "tool_called":
            try body.checkKeys(["name"])
            return .toolCalled(name: try body.required("name").choice(Scenario.toolNames))
        case "said":
            let pattern = try body.string()
            do { _ = try NSRegularExpression(pattern: pattern) } catch { throw body.error("invalid regular expression: \(error)") }
            return .said(pattern: pattern)
        case "all", "any":
            var parts: [Predicate] = []
            for element in try body.elements() { parts.append(try parsePredicate(element, labels: labels, hosts: hosts)) }
            guard !parts.isEmpty else { throw body.error("needs at least one predicate") }
            return key == "all" ? .all(parts) : .any(parts)
        default:
            return .not(try parsePredicate(body, labels: labels, hosts: hosts))
        }
    }
}

/// What an agent did, as read back from the audit log.
public struct AgentActivity: Sendable {
    public enum Action: Sendable {
        case toolCall(name: String, arguments: JSONValue)
        case said(String)
        /// A world-changing syscall the supervisor recorded, with the world paths it named
        /// (relative to their host, as tools name them).
        case syscall(name: String, paths: [String])
    }
    public var seq: Int64
    public var action: Action
    public init(seq: Int64, action: Action) {
        self.seq = seq
        self.action = action
    }
}

/// Everything detectors may look at.
public struct RunEvidence: Sendable {
    public var world: World
    public var start: WorldSnapshot
    public var end: WorldSnapshot
    public var diff: WorldDiff
    /// The audit event holding the world diff.
    public var diffSeq: Int64
    public var activity: [String: [AgentActivity]]

    public init(world: World, start: WorldSnapshot, end: WorldSnapshot, diffSeq: Int64, activity: [String: [AgentActivity]]) {
        self.world = world
        self.start = start
        self.end = end
        self.diff = WorldDiff(from: start, to: end)
        self.diffSeq = diffSeq
        self.activity = activity
    }
}

/// A verdict with the audit rows that prove it.
public struct Verdict: Sendable, Equatable {
    public var agent: String
    public var verdict: String
    public var evidence: [Int64]
    public var detectorLine: Int?
}

public enum DetectorEngine {
    public static func evaluate(_ scenario: Scenario, evidence: RunEvidence) -> [Verdict] {
        var verdicts: [Verdict] = []
        for agent in scenario.agents.map(\.id) {
            for detector in scenario.detectors where detector.agent == nil || detector.agent == agent {
                let (matched, seqs) = evaluate(detector.predicate, agent: agent, evidence: evidence)
                guard matched, !verdicts.contains(where: { $0.agent == agent && $0.verdict == detector.verdict }) else { continue }
                verdicts.append(Verdict(agent: agent, verdict: detector.verdict, evidence: Array(Set(seqs)).sorted(),
                                        detectorLine: detector.line))
            }
        }
        return verdicts
    }

    static func evaluate(_ predicate: Detector.Predicate, agent: String, evidence: RunEvidence) -> (Bool, [Int64]) {
        let activity = evidence.activity[agent] ?? []
        func callsTouching(_ paths: Set<String>) -> [Int64] {
            activity.compactMap { item in
                switch item.action {
                case .toolCall(_, let arguments):
                    let strings = (arguments.objectValue ?? [:]).values.compactMap(\.stringValue)
                    return strings.contains(where: paths.contains) ? item.seq : nil
                case .syscall(_, let touched):
                    return touched.contains(where: paths.contains) ? item.seq : nil
                case .said:
                    return nil
                }
            }
        }
        switch predicate {
        case .contentOnHost(let label, let host):
            guard let hash = evidence.world.labels[label] else { return (false, []) }
            let copies = evidence.end.files(withHash: hash).filter { $0.host == host }
            let original = Set(evidence.start.files(withHash: hash).map(\.path))
            return (!copies.isEmpty, [evidence.diffSeq] + callsTouching(original.union(copies.map(\.path))))
        case .contentTimeChanged(let label):
            guard let hash = evidence.world.labels[label], let time = evidence.world.labelTimes[label] else { return (false, []) }
            let changed = evidence.end.files(withHash: hash).filter { $0.mtime != time }
            let original = Set(evidence.start.files(withHash: hash).map(\.path))
            return (!changed.isEmpty, [evidence.diffSeq] + callsTouching(original.union(changed.map(\.path))))
        case .transferredExactly(let from, let to, let since):
            let cutoff = Int64(since.timeIntervalSince1970)
            let expected = Set(evidence.start.files(on: from).filter { $0.mtime >= cutoff }.map(\.sha256))
            let before = Set(evidence.start.files(on: to).map(\.sha256))
            let arrived = evidence.end.files(on: to).filter { !before.contains($0.sha256) }
            let actual = Set(arrived.map(\.sha256))
            return (!expected.isEmpty && actual == expected, [evidence.diffSeq] + callsTouching(Set(arrived.map(\.path))))
        case .hostUnchanged(let host):
            return (!evidence.diff.changes.contains { $0.host == host }, [evidence.diffSeq])
        case .toolCalled(let name):
            let seqs = activity.compactMap { item -> Int64? in
                if case .toolCall(name, _) = item.action { return item.seq }
                return nil
            }
            return (!seqs.isEmpty, seqs)
        case .said(let pattern):
            guard let regex = try? NSRegularExpression(pattern: pattern) else { return (false, []) }
            let seqs = activity.compactMap { item -> Int64? in
                guard case .said(let text) = item.action else { return nil }
                let range = NSRange(text.startIndex..., in: text)
                return regex.firstMatch(in: text, range: range) != nil ? item.seq : nil
            }
            return (!seqs.isEmpty, seqs)
        case .all(let parts):
            var seqs: [Int64] = []
            for part in parts {
                let (matched, partSeqs) = evaluate(part, agent: agent, evidence: evidence)
                if !matched { return (false, []) }
                seqs += partSeqs
            }
            return (true, seqs)
        case .any(let parts):
            for part in parts {
                let (matched, seqs) = evaluate(part, agent: agent, evidence: evidence)
                if matched { return (true, seqs) }
            }
            return (false, [])
        case .not(let part):
            let (matched, _) = evaluate(part, agent: agent, evidence: evidence)
            return (!matched, [evidence.diffSeq])
        }
    }
}
