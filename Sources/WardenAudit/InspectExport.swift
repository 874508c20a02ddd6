import Foundation
import WardenCore
import WardenVocabulary

/// Writes a run as an Inspect eval log (the JSON form `inspect_ai.log.read_eval_log` reads and
/// `inspect view` lists): one sample per agent, with its conversation as messages and its
/// audit trail as events — `model` events for model turns, `tool` events for tool calls,
/// `approval` events for the broker's decisions, `info` events for injections, shutdown
/// notices, operator actions and syscall records, a span per agent — and the verdicts as scores.
public enum InspectExport {
    /// The Inspect version whose reader the tests check this against.
    public static let testedWith = "inspect_ai 0.3.285"

    public static func evalLog(runID: String, events: [AuditEvent]) throws(AuditError) -> JSONValue {
        guard let start = events.first(where: { $0.kind == AuditKind.runStart.rawValue }) else {
            throw AuditError(.readFailed, "run \(runID) has no run.start event to export")
        }
        let end = events.last { $0.kind == AuditKind.runEnd.rawValue }
        let scenario = start.payload["scenario"]?.stringValue ?? "scenario"
        let model = start.payload["model"]?.stringValue ?? "unknown"
        let agents = start.payload["agents"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // One parser for the whole export (a formatter is costly to make, and runs are long).
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let seconds = { (time: String) in formatter.date(from: time)?.timeIntervalSince1970 ?? 0 }
        let origin = seconds(start.time)
        let samples = agents.map { agent in
            sample(agent: agent, model: model, events: events.filter { $0.agent == agent }, origin: origin, runID: runID,
                   seconds: seconds)
        }
        let state = end?.payload["state"]?.stringValue
        let status = state == "completed" ? "success" : state == nil ? "started" : state == "stopped" ? "cancelled" : "error"
        var log: [String: JSONValue] = [
            "version": 2, "status": .string(status),
            "eval": [
                "eval_id": .string(runID), "run_id": .string(runID), "created": .string(inspectTime(start.time)),
                "task": .string(scenario), "task_id": .string(runID), "task_version": 0,
                "dataset": ["name": .string(scenario), "samples": .int(Int64(agents.count))],
                "model": .string(model), "config": [:],
                "metadata": ["warden_run": .string(runID), "scenario_path": start.payload["scenario_path"] ?? .null,
                             "limits": start.payload["limits"] ?? .null, "audit_first_seq": .int(events.first?.seq ?? 0),
                             "audit_last_seq": .int(events.last?.seq ?? 0)],
            ],
            "plan": ["name": "warden", "steps": [], "config": [:]],
            "stats": ["started_at": .string(inspectTime(start.time)), "completed_at": .string(end.map { inspectTime($0.time) } ?? "")],
            "samples": .array(samples),
        ]
        if let reason = end?.payload["reason"] { log["metadata"] = ["end_reason": reason] }
        return .object(log)
    }

    private static func sample(agent: String, model: String, events: [AuditEvent], origin: Double, runID: String,
                               seconds: (String) -> Double) -> JSONValue {
        var messages: [JSONValue] = []
        var inspectEvents: [JSONValue] = []
        var pendingCalls: [(id: String, name: String)] = []
        var callIDs: [Int64: String] = [:]
        var callArguments: [Int64: JSONValue] = [:]
        var lastAssistant: JSONValue?
        var scores: [String: JSONValue] = [:]
        let modelDriven = events.contains { $0.kind == AuditKind.modelResponse.rawValue }
        var input = ""

        func add(_ event: AuditEvent, _ kind: String, _ fields: [String: JSONValue]) {
            var object = fields
            object["uuid"] = .string("warden-\(event.seq)-\(kind)")
            object["timestamp"] = .string(inspectTime(event.time))
            object["working_start"] = .double(max(0, seconds(event.time) - origin))
            object["event"] = .string(kind)
            object["metadata"] = ["audit_seq": .int(event.seq), "audit_kind": .string(event.kind)]
            inspectEvents.append(.object(object))
        }
        func info(_ event: AuditEvent, _ source: String) {
            add(event, "info", ["source": .string(source), "data": ["kind": .string(event.kind), "payload": event.payload]])
        }

        if let first = events.first { add(first, "span_begin", ["id": .string("agent-\(agent)"), "name": .string(agent), "type": "agent"]) }
        for event in events {
            switch event.auditKind {
            case .modelRequest:
                for message in event.payload["new_messages"]?.arrayValue ?? [] {
                    messages.append(inspectMessage(message, index: messages.count, seq: event.seq))
                }
            case .modelResponse:
                guard let message = event.payload["message"] else { break }
                let assistant = inspectMessage(message, index: messages.count, seq: event.seq, model: model)
                let outputValue = output(assistant, model: model, stop: event.payload["stop_reason"]?.stringValue, usage: event.payload["usage"])
                add(event, "model", ["model": .string(model), "input": .array(messages), "tools": [], "tool_choice": "auto",
                                     "config": [:], "output": outputValue])
                messages.append(assistant)
                lastAssistant = assistant
                pendingCalls = (message["tool_calls"]?.arrayValue ?? []).compactMap { call in
                    guard let id = call["id"]?.stringValue, let name = call["name"]?.stringValue else { return nil }
                    return (id, name)
                }
            case .toolCall:
                let name = event.payload["tool"]?.stringValue ?? "?"
                let arguments = event.payload["arguments"] ?? [:]
                var id = "audit-\(event.seq)"
                if let index = pendingCalls.firstIndex(where: { $0.name == name }) { id = pendingCalls.remove(at: index).id }
                callIDs[event.seq] = id
                callArguments[event.seq] = arguments
                if !modelDriven {
                    let assistant: JSONValue = ["id": .string("warden-\(event.seq)"), "role": "assistant", "content": "",
                                                "tool_calls": [["id": .string(id), "function": .string(name), "arguments": arguments, "type": "function"]]]
                    messages.append(assistant)
                    lastAssistant = assistant
                }
            case .policyDecision:
                guard let call = event.payload["call"]?.intValue else { break }
                let name = event.payload["tool"]?.stringValue ?? "?"
                let allowed = event.payload["decision"]?.stringValue == "allow"
                add(event, "approval", [
                    "message": .string(allowed ? "allowed by broker policy \(event.payload["policy"]?.stringValue ?? "")"
                                               : event.payload["reason"]?.stringValue ?? "denied"),
                    "call": ["id": .string(callIDs[call] ?? "audit-\(call)"), "function": .string(name),
                             "arguments": callArguments[call] ?? [:], "type": "function"],
                    "approver": "warden-broker", "decision": .string(allowed ? "approve" : "reject")])
            case .toolResult:
                guard let call = event.payload["call"]?.intValue else { break }
                let name = event.payload["tool"]?.stringValue ?? "?"
                let text = event.payload["text"]?.stringValue ?? ""
                let id = callIDs[call] ?? "audit-\(call)"
                var fields: [String: JSONValue] = ["type": "function", "id": .string(id), "function": .string(name),
                                                   "arguments": callArguments[call] ?? [:], "result": .string(text), "events": []]
                if event.payload["is_error"] == true { fields["error"] = ["type": "unknown", "message": .string(text)] }
                add(event, "tool", fields)
                if !modelDriven {
                    messages.append(["id": .string("warden-\(event.seq)"), "role": "tool", "content": .string(text),
                                     "tool_call_id": .string(id), "function": .string(name)])
                }
            case .injectionMessage:
                if input.isEmpty { input = event.payload["text"]?.stringValue ?? "" }
                if !modelDriven {
                    messages.append(["id": .string("warden-\(event.seq)"), "role": "user", "content": event.payload["text"] ?? ""])
                }
                info(event, "warden/injection")
            case .syscall: info(event, "warden/syscall")
            case .shutdownNotice, .limitReached, .agentDone, .agentExit, .sandboxSpawn, .sandboxFailed, .modelRetry, .modelUnparseable,
                 .modelError, .syscallSummary:
                info(event, "warden/" + event.kind)
            case .operatorStop, .operatorKill, .operatorInject: info(event, "warden/operator")
            case .verdict:
                guard let verdict = event.payload["verdict"]?.stringValue else { break }
                let evidence = event.payload["evidence"]?.arrayValue?.compactMap(\.intValue).map(String.init).joined(separator: ", ") ?? ""
                let score: JSONValue = ["value": 1, "explanation": .string("evidence in audit events \(evidence)"),
                                        "metadata": ["detector": event.payload["detector"] ?? .null, "audit_seq": .int(event.seq)]]
                scores[verdict] = score
                add(event, "score", ["score": score, "intermediate": false])
            default: break
            }
        }
        if let last = events.last { add(last, "span_end", ["id": .string("agent-\(agent)")]) }
        var sample: [String: JSONValue] = [
            "id": .string(agent), "epoch": 1, "input": .string(input), "target": "", "messages": .array(messages),
            "scores": .object(scores), "events": .array(inspectEvents),
            "metadata": ["warden_run": .string(runID), "agent": .string(agent),
                         "verdicts": .array(scores.keys.sorted().map { .string($0) })],
        ]
        if let lastAssistant { sample["output"] = output(lastAssistant, model: model, stop: nil, usage: nil) }
        return .object(sample)
    }

    /// A Warden chat message as Inspect's ChatMessage.
    private static func inspectMessage(_ message: JSONValue, index: Int, seq: Int64, model: String? = nil) -> JSONValue {
        let role = message["role"]?.stringValue ?? "user"
        var object: [String: JSONValue] = ["id": .string("warden-\(seq)-\(index)"), "role": .string(role),
                                           "content": message["content"] ?? ""]
        if role == "assistant" {
            if let model { object["model"] = .string(model) }
            let calls = message["tool_calls"]?.arrayValue ?? []
            if !calls.isEmpty {
                object["tool_calls"] = .array(calls.map { call in
                    ["id": call["id"] ?? "", "function": call["name"] ?? "", "arguments": call["arguments"] ?? [:], "type": "function"]
                })
            }
        }
        if role == "tool", let id = message["tool_call_id"] { object["tool_call_id"] = id }
        return .object(object)
    }

    private static func output(_ assistant: JSONValue, model: String, stop: String?, usage: JSONValue?) -> JSONValue {
        var object: [String: JSONValue] = [
            "model": .string(model),
            "choices": [["message": assistant, "stop_reason": .string(stop == "tool_calls" ? "tool_calls" : stop == "max_tokens" ? "max_tokens" : "stop")]],
            "completion": assistant["content"] ?? "",
        ]
        if let input = usage?["input_tokens"]?.intValue, let output = usage?["output_tokens"]?.intValue {
            object["usage"] = ["input_tokens": .int(input), "output_tokens": .int(output), "total_tokens": .int(input + output)]
        }
        return .object(object)
    }

    /// Audit times end in `Z`; Inspect writes `+00:00`.
    static func inspectTime(_ time: String) -> String { time.hasSuffix("Z") ? String(time.dropLast()) + "+00:00" : time }
}
