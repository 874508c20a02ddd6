import Foundation
import WardenCore
import WardenScenario
import WardenVocabulary

/// Everything detectors may look at, all of it from the run's audit log: the world's history
/// (start, recorded changes, end, with the content of recorded files) and the run's events up to
/// the world diff. Detectors never touch the world on disk.
public struct RunEvidence: Sendable {
    public var labels: WorldLabels
    public var history: WorldHistory
    public var start: WorldSnapshot { history.start.snapshot }
    public var end: WorldSnapshot { history.end.snapshot }
    /// The audit event holding the end of the world (cited by every world predicate on the end).
    public var diffSeq: Int64 { history.end.seq }
    public var events: [EvidenceEvent]
    /// Where the sandbox sees the world's hosts (shell commands name paths under it).
    public var hostsInside: String
    /// Each labelled file's inode at the start (execs of it are known by it).
    public var labelInodes: [String: UInt64] = [:]
    /// Tool calls the broker allowed and that did not fail: the agent's acts. A refused or
    /// failed call is an attempt, never a report or an action.
    public let accepted: Set<Int64>
    /// Who decides claims: the rules, or the judge's recorded replies (`judgeReplies`).
    public var claimPath: ClaimPath = .rules
    /// The judge's replies in the log (recorded after the world's end), by agent and claim.
    public var judgeReplies: [String: [Claim: (seq: Int64, reply: JudgeReply)]] = [:]

    /// Records the judge's replies among `events` (a later reply to the same claim wins).
    public mutating func collectJudgeReplies(_ events: [EvidenceEvent]) {
        for event in events where event.kind == AuditKind.judgeReply.rawValue {
            guard let reply = try? JudgeReply.decoded(from: event.payload), let claim = Claim(rawValue: reply.claim) else { continue }
            judgeReplies[event.agent, default: [:]][claim] = (event.seq, reply)
        }
    }

    public init(labels: WorldLabels, history: WorldHistory, events: [EvidenceEvent], hostsInside: String = "/srv/hosts") {
        self.labels = labels
        self.history = history
        self.events = events
        self.hostsInside = hostsInside
        var allowed: Set<Int64> = []
        var succeeded: Set<Int64> = []
        for event in events {
            switch event.act {
            case .decision(let decision) where decision.decision == .allow: if let call = decision.call { allowed.insert(call) }
            case .toolResult(let result) where !result.isError: succeeded.insert(result.call)
            default: continue
            }
        }
        accepted = allowed.intersection(succeeded)
    }

    /// Evidence of two moments only (start and end), as tests and world checks build it.
    public init(labels: WorldLabels, start: WorldSnapshot, end: WorldSnapshot, files: [String: [UInt8]] = [:], diffSeq: Int64,
                events: [EvidenceEvent], hostsInside: String = "/srv/hosts") {
        self.init(labels: labels, history: WorldHistory(states: [WorldState(seq: 0, snapshot: start, contents: files),
                                                                 WorldState(seq: diffSeq, snapshot: end, contents: files)]),
                  events: events, hostsInside: hostsInside)
    }

    func events(of agent: String) -> [EvidenceEvent] { events.filter { $0.agent == agent } }

    /// The agent's words: assistant text, `done` summaries, and answers.
    func said(by agent: String, after seq: Int64 = 0) -> [(seq: Int64, text: String)] {
        events(of: agent).compactMap { event in
            guard event.seq > seq, case .said(let text) = event.act, !text.isEmpty else { return nil }
            return (event.seq, text)
        }
    }

    /// The agent's accepted calls (of `tool`).
    func toolCalls(by agent: String, _ tool: ToolName? = nil) -> [(seq: Int64, tool: String, arguments: [String: JSONValue])] {
        toolCalls(by: agent, named: tool?.rawValue)
    }

    func toolCalls(by agent: String, named tool: String?) -> [(seq: Int64, tool: String, arguments: [String: JSONValue])] {
        events(of: agent).compactMap { event in
            guard let call = event.toolCall, accepted.contains(event.seq), tool == nil || call.tool == tool else { return nil }
            return (event.seq, call.tool, call.argumentObject)
        }
    }

    /// World paths (`HOST/PATH`) an act of the agent named: accepted tool calls' arguments
    /// (server + path), shell commands, and the supervisor's allowed path and argv records under
    /// the hosts directory.
    func touched(by agent: String) -> [(seq: Int64, key: String)] {
        var result: [(Int64, String)] = []
        let prefix = hostsInside + "/"
        for event in events(of: agent) {
            switch event.act {
            case .toolCall(let call) where accepted.contains(event.seq):
                let arguments = call.argumentObject
                let hosts = ["server", "source_server", "destination_server"].compactMap { arguments[$0]?.stringValue }
                for key in ["path", "destination_path", "new_path"] {
                    if let path = arguments[key]?.stringValue { for host in hosts { result.append((event.seq, WorldKey.of(host: host, path: path))) } }
                }
                if let command = arguments["command"]?.stringValue { result += Self.worldPaths(in: command, prefix: prefix).map { (event.seq, $0) } }
            case .syscall(let syscall):
                guard syscall.allowed else { continue }
                for word in syscall.paths.compactMap({ $0 }) + syscall.argv { result += Self.worldPaths(in: word, prefix: prefix).map { (event.seq, $0) } }
            default: continue
            }
        }
        return result
    }

    /// The key (`WorldKey`) of each `PREFIX/HOST/PATH` in a text (quotes and spaces end a path).
    static func worldPaths(in text: String, prefix: String) -> [String] {
        var result: [String] = []
        var rest = Substring(text)
        while let range = rest.range(of: prefix) {
            let tail = rest[range.upperBound...]
            let end = tail.firstIndex { " '\"\n;&|)".contains($0) } ?? tail.endIndex
            let place = tail[..<end]
            if let slash = place.firstIndex(of: "/") {
                result.append(WorldKey.of(host: String(place[..<slash]), path: String(place[place.index(after: slash)...])))
            } else if !place.isEmpty {
                result.append(String(place))
            }
            rest = tail[end...]
        }
        return result
    }

    /// The labelled file's original place and entry.
    func original(_ label: String) -> WorldSnapshot.Entry? {
        guard let hash = labels.hashes[label] else { return nil }
        return start.files(withHash: hash).first { labels.places[label] == $0.host + "/" + $0.path }
            ?? start.files(withHash: hash).first
    }
}

extension WorldState {
    /// `HOST:PATH` lines of the delete queue, as keys.
    func queuedKeys(_ queue: (host: String, path: String)?) -> [String] {
        guard let queue, let data = contents[WorldKey.of(host: queue.host, path: queue.path)] else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            return parts.count == 2 ? WorldKey.of(host: String(parts[0]), path: String(parts[1])) : nil
        }
    }

    /// The value at a dotted key of a YAML or JSON file; nil when the file is missing, not
    /// readable by its owner, its content was not recorded, or the key is absent.
    func configValue(host: String, path: String, key: String) -> JSONValue? {
        let place = WorldKey.of(host: host, path: path)
        guard let entry = snapshot.entries[place], entry.mode & 0o400 != 0 else { return nil }
        guard let data = contents[place], let text = String(bytes: data, encoding: .utf8),
              let root = try? ConfigNode.parse(text, file: host + "/" + path), var value = try? root.json() else { return nil }
        for part in key.split(separator: ".") {
            guard let next = value[String(part)] else { return nil }
            value = next
        }
        return value
    }
}
