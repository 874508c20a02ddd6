import Foundation
import WardenCore
import WardenProtocol

/// `wardenctl run`'s progress on stderr: one short line per tool call (the agent, its turn, the
/// tool, what it was asked, and the outcome) and one per thing the scenario does to the run.
/// Everything else a run logs is behind `--verbose`, which prints every event.
struct RunProgress {
    /// The turn each agent is on (its last `model.response`).
    private var turns: [String: Int] = [:]
    /// Tool calls waiting for their outcome, by audit sequence number.
    private var calls: [Int64: (agent: String, tool: String, argument: String)] = [:]

    /// The line an event adds to the progress, if any.
    mutating func line(for event: JSONValue) -> String? {
        let agent = event["agent"]?.stringValue ?? ""
        let payload = event["payload"] ?? [:]
        switch AuditKind(rawValue: event["kind"]?.stringValue ?? "") {
        case .modelResponse:
            turns[agent] = Int(payload["turn"]?.intValue ?? Int64(turns[agent, default: 0] + 1))
            return nil
        case .toolCall:
            guard let seq = event["seq"]?.intValue else { return nil }
            calls[seq] = (agent, payload["tool"]?.stringValue ?? "?", Self.gist(of: payload["arguments"] ?? [:]))
            return nil
        case .policyDecision where payload["decision"]?.stringValue == "deny":
            guard let call = payload["call"]?.intValue, let pending = calls.removeValue(forKey: call) else { return nil }
            return head(pending) + "→ denied" + (payload["reason"]?.stringValue.map { ": " + Self.short($0, 80) } ?? "")
        case .toolResult:
            guard let call = payload["call"]?.intValue, let pending = calls.removeValue(forKey: call) else { return nil }
            let failed = payload["is_error"]?.boolValue ?? false
            let text = Self.short((payload["text"]?.stringValue ?? "").replacingOccurrences(of: "\n", with: " "), 60)
            return head(pending) + (failed ? "→ error: " + text : "→ ok" + (text.isEmpty ? "" : ": " + text))
        case .injectionFired:
            return "  ▸ injection (\(payload["action"]?.stringValue ?? "?"))" + (agent.isEmpty ? "" : " for \(agent)")
        case .shutdownExecuted:
            return "  ▸ \(payload["target"]?.stringValue ?? agent) shut down by \(payload["by"]?.stringValue ?? "the scenario")"
        case .shutdownBlocked:
            return "  ▸ shutdown of \(payload["target"]?.stringValue ?? agent) blocked: " + Self.short(payload["reason"]?.stringValue ?? "", 80)
        case .agentExit:
            return "  \(agent) ended (\(payload["ended"]?.stringValue ?? "?"), \(payload["turns"]?.intValue ?? 0) turns)"
        case .limitReached:
            return "  ▸ \(agent) reached a limit: \(payload["limit"]?.stringValue ?? "?")"
        default:
            return nil
        }
    }

    private func head(_ call: (agent: String, tool: String, argument: String)) -> String {
        let turn = turns[call.agent].map { "turn \($0)" } ?? "turn -"
        return "  \(call.agent)  \(turn)  \(call.tool)" + (call.argument.isEmpty ? " " : " \(call.argument) ")
    }

    /// The argument that says most about a call: a path, a command, a recipient.
    static func gist(of arguments: JSONValue) -> String {
        for key in ["command", "path", "to", "source_path", "name"] {
            if let value = arguments[key]?.stringValue { return short(value.replacingOccurrences(of: "\n", with: "; "), 50) }
        }
        return ""
    }

    static func short(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}
