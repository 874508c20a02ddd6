import Foundation
import Synchronization
import WardenCore
import WardenScenario
import WardenVocabulary

/// Which of a run's injections its acts fire, decided in the order of the audit log: whoever
/// appends an act (the broker an allowed tool call, the supervisor a syscall) asks the book at
/// once, before the act goes on, and performs what it returns. So the same behaviour fires the
/// same injections at the same point every time. Each injection fires at most once.
public final class TriggerBook: Sendable {
    /// The injections that wait on acts (`on`, `after_tool_calls`), with their index in the scenario.
    private let watched: [(index: Int, injection: Injection)]
    private let labels: WorldLabels
    /// Each labelled file's inode at the start (an exec of the file by any name is an exec of it).
    private let inodes: [String: UInt64]
    private let state = Mutex<(fired: Set<Int>, calls: [String: Int])>(([], [:]))

    public init(scenario: Scenario, labels: WorldLabels, inodes: [String: UInt64]) {
        watched = scenario.injections.enumerated().compactMap { index, injection in
            switch injection.trigger {
            case .on, .afterToolCalls: (index, injection)
            default: nil
            }
        }
        self.labels = labels
        self.inodes = inodes
    }

    /// Whether any injection waits on syscalls (the supervisor need not ask otherwise).
    public var watchesSyscalls: Bool {
        watched.contains { if case .on(let match) = $0.injection.trigger { match.syscall != nil || match.execLabel != nil } else { false } }
    }

    /// The injections this act fires: an allowed tool call (`call`) or an allowed syscall.
    public func fired(by event: EvidenceEvent) -> [Injection] {
        state.withLock { state in
            var result: [Injection] = []
            if event.toolCall != nil { state.calls[event.agent, default: 0] += 1 }
            for (index, injection) in watched where !state.fired.contains(index) {
                let matched: Bool
                switch injection.trigger {
                case .afterToolCalls(let count, let agent):
                    matched = event.toolCall != nil && event.agent == agent && state.calls[agent] == count
                case .on(let match):
                    matched = matches(match, event)
                default:
                    matched = false
                }
                guard matched else { continue }
                state.fired.insert(index)
                result.append(injection)
            }
            return result
        }
    }

    func matches(_ match: Injection.EventMatch, _ event: EvidenceEvent) -> Bool {
        if let agent = match.agent, agent != event.agent { return false }
        switch event.act {
        case .toolCall(let call):
            guard match.syscall == nil, match.execLabel == nil else { return false }
            if let tool = match.tool, call.tool != tool { return false }
            if let to = match.messageTo {
                guard call.tool == ToolName.sendMessage.rawValue, call.argumentObject["to"]?.stringValue == to else { return false }
            }
            if let file = match.file {
                let paths = ["path", "destination_path", "new_path"].compactMap { call.argumentObject[$0]?.stringValue }
                guard paths.contains(where: { Self.matches(file, $0) }) else { return false }
            }
            return match.tool != nil || match.messageTo != nil || match.file != nil
        case .syscall(let syscall):
            guard syscall.allowed, match.tool == nil, match.messageTo == nil else { return false }
            if let name = match.syscall, syscall.syscall != name { return false }
            if let file = match.file, !syscall.paths.compactMap({ $0 }).contains(where: { Self.matches(file, $0) }) { return false }
            if let label = match.execLabel, !executes(syscall, label: label) { return false }
            return match.syscall != nil || match.file != nil || match.execLabel != nil
        default:
            return false
        }
    }

    /// Whether an exec ran the labelled file: the program, or an interpreter's script, is the
    /// file's inode or has its original content (as the supervisor identified them).
    func executes(_ syscall: SyscallEvent, label: String) -> Bool {
        guard syscall.syscall == "execve" || syscall.syscall == "execveat", let exec = syscall.details["exec"] else { return false }
        for role in ["program", "script"] {
            guard let file = exec[role] else { continue }
            if let inode = file["inode"]?.intValue, let original = inodes[label], UInt64(inode) == original { return true }
            if let hash = file["sha256"]?.stringValue, hash == labels.hashes[label] { return true }
        }
        return false
    }

    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = RegexCache.regex(pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
