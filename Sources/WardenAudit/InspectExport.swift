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

    /// An eval log in parts: the header (everything but the samples), the samples, and their
    /// summaries, as the `.eval` zip stores them.
    public struct Log: Sendable {
        public var header: [(key: String, value: JSONValue)]
        public var samples: [JSONValue]
        public var summaries: [JSONValue]
        /// The task, and when it began (for the file name Inspect would give it).
        public var task: String
        public var created: String
        public var id: String
    }

    /// One run as an eval log: one sample per agent, its id the agent's.
    public static func evalLog(runID: String, events: [AuditEvent]) throws(AuditError) -> JSONValue {
        let log = try log(id: runID, runs: [(runID, events)], sampleID: { _, agent in agent })
        return log.json
    }

    /// Runs as one eval log: one sample per (run, agent), `sampleID` naming it; every sample is
    /// scored 0 or 1 on every verdict of the vocabulary, and the results give each verdict's
    /// mean and standard error over the samples.
    public static func log(id: String, runs: [(id: String, events: [AuditEvent])],
                           sampleID: (_ run: String, _ agent: String) -> String) throws(AuditError) -> Log {
        var starts: [AuditEvent] = []
        for run in runs {
            guard let start = run.events.first(where: { $0.kind == AuditKind.runStart.rawValue }) else {
                throw AuditError(.readFailed, "run \(run.id) has no run.start event to export")
            }
            starts.append(start)
        }
        guard let first = starts.first else { throw AuditError(.readFailed, "nothing to export: no runs") }
        let scenarios = Set(starts.compactMap { $0.payload["scenario"]?.stringValue })
        let models = Set(starts.compactMap { $0.payload["model"]?.stringValue })
        let task = scenarios.count == 1 ? scenarios.first! : "warden-suite"
        let model = models.count == 1 ? models.first! : models.sorted().joined(separator: ",")
        // One parser for the whole export (a formatter is costly to make, and runs are long).
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let seconds = { (time: String) in formatter.date(from: time)?.timeIntervalSince1970 ?? 0 }
        var samples: [JSONValue] = []
        var states: [String] = []
        var lastTime = first.time
        for (run, start) in zip(runs, starts) {
            let end = run.events.last { $0.kind == AuditKind.runEnd.rawValue }
            states.append(end?.payload["state"]?.stringValue ?? "running")
            if let time = run.events.last?.time, time > lastTime { lastTime = time }
            let background = Set(start.payload["background"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            for agent in (start.payload["agents"]?.arrayValue?.compactMap(\.stringValue) ?? []) where !background.contains(agent) {
                var sample = sample(agent: agent, model: start.payload["agent_models"]?[agent]?.stringValue ?? start.payload["model"]?.stringValue ?? model,
                                    events: run.events.filter { $0.agent == agent }, origin: seconds(start.time), runID: run.id, seconds: seconds)
                sample["id"] = .string(sampleID(run.id, agent))
                var metadata = sample["metadata"]?.objectValue ?? [:]
                metadata["scenario"] = start.payload["scenario"] ?? .null
                metadata["cell"] = start.payload["cell"] ?? [:]
                metadata["trial"] = start.payload["trial"] ?? .null
                metadata["run_state"] = .string(end?.payload["state"]?.stringValue ?? "running")
                metadata["audit_first_seq"] = .int(run.events.first?.seq ?? 0)
                metadata["audit_last_seq"] = .int(run.events.last?.seq ?? 0)
                sample["metadata"] = .object(metadata)
                samples.append(.object(sample))
            }
        }
        let status = states.allSatisfy { $0 == "completed" } ? "success" : states.contains("running") ? "started"
            : states.allSatisfy { $0 == "completed" || $0 == "stopped" } ? "cancelled" : "error"
        let metadata: JSONValue = ["warden_runs": .array(runs.map { .string($0.id) }), "scenario_path": first.payload["scenario_path"] ?? .null,
                                   "limits": first.payload["limits"] ?? .null, "exported_with": .string(testedWith)]
        let eval: JSONValue = [
            "eval_id": .string(id), "run_id": .string(id), "created": .string(inspectTime(first.time)),
            "task": .string(task), "task_id": .string(id), "task_version": 0,
            "dataset": ["name": .string(task), "samples": .int(Int64(samples.count)), "sample_ids": .array(samples.compactMap { $0["id"] })],
            "model": .string(model), "config": [:], "metadata": metadata,
        ]
        var header: [(key: String, value: JSONValue)] = [
            ("version", 2), ("status", .string(status)), ("eval", eval),
            ("plan", ["name": "warden", "steps": [], "config": [:]]),
            ("results", results(samples)),
            ("stats", ["started_at": .string(inspectTime(first.time)), "completed_at": .string(inspectTime(lastTime))]),
        ]
        if runs.count == 1, let reason = runs[0].events.last(where: { $0.kind == AuditKind.runEnd.rawValue })?.payload["reason"] {
            header.append(("metadata", ["end_reason": reason]))
        }
        let summaries: [JSONValue] = samples.map { sample in
            ["id": sample["id"] ?? "", "epoch": 1, "input": sample["input"] ?? "", "target": "", "metadata": sample["metadata"] ?? [:],
             "scores": sample["scores"] ?? [:], "completed": true]
        }
        return Log(header: header, samples: samples, summaries: summaries, task: task, created: first.time, id: id)
    }

    /// Per verdict: the share of samples that got it, and its standard error (the sample
    /// standard deviation over √n, as Inspect's `stderr` metric).
    static func results(_ samples: [JSONValue]) -> JSONValue {
        let n = samples.count
        let scores: [JSONValue] = VerdictName.all.map { verdict in
            let values = samples.map { $0["scores"]?[verdict]?["value"]?.doubleValue ?? 0 }
            let mean = n > 0 ? values.reduce(0, +) / Double(n) : 0
            let variance = n > 1 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1) : 0
            let stderr = n > 0 ? (variance / Double(n)).squareRoot() : 0
            return ["name": .string(verdict), "scorer": .string(verdict), "scored_samples": .int(Int64(n)), "unscored_samples": 0,
                    "params": [:], "metrics": ["mean": ["name": "mean", "value": .double(mean), "params": [:]],
                                               "stderr": ["name": "stderr", "value": .double(stderr), "params": [:]]]]
        }
        return ["total_samples": .int(Int64(n)), "completed_samples": .int(Int64(n)), "scores": .array(scores)]
    }

    private static func sample(agent: String, model: String, events: [AuditEvent], origin: Double, runID: String,
                               seconds: (String) -> Double) -> [String: JSONValue] {
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
                let reason = event.payload["reason"]?.stringValue.map { $0 + "; " } ?? ""
                let score: JSONValue = ["value": 1, "explanation": .string(reason + "evidence in audit events \(evidence)"),
                                        "metadata": ["detector": event.payload["detector"] ?? .null, "audit_seq": .int(event.seq),
                                                     "evidence": event.payload["evidence"] ?? []]]
                scores[verdict] = score
                add(event, "score", ["score": score, "intermediate": false])
            default: break
            }
        }
        if let last = events.last { add(last, "span_end", ["id": .string("agent-\(agent)")]) }
        let found = scores.keys.sorted()
        // Every verdict of the vocabulary is a score: 1 with its evidence, or 0.
        for verdict in VerdictName.all where scores[verdict] == nil {
            scores[verdict] = ["value": 0, "explanation": "no detector found it"]
        }
        var sample: [String: JSONValue] = [
            "id": .string(agent), "epoch": 1, "input": .string(input), "target": "", "messages": .array(messages),
            "scores": .object(scores), "events": .array(inspectEvents),
            "metadata": ["warden_run": .string(runID), "agent": .string(agent), "verdicts": .array(found.map { .string($0) })],
        ]
        sample["output"] = lastAssistant.map { output($0, model: model, stop: nil, usage: nil) } ?? ["model": .string(model), "choices": []]
        return sample
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

extension InspectExport.Log {
    /// The whole log as one JSON object, `version` first (Inspect's header reader looks there).
    public var json: JSONValue {
        var object = Dictionary(uniqueKeysWithValues: header.map { ($0.key, $0.value) })
        object["samples"] = .array(samples)
        return .object(object)
    }

    /// The `.json` form, members in Inspect's order: `version` first, then the header, then the
    /// samples.
    public var jsonText: String {
        let members = header.map { "\(JSONValue.string($0.key).canonicalString):\($0.value.canonicalString)" }
            + ["\"samples\":" + JSONValue.array(samples).canonicalString]
        return "{" + members.joined(separator: ",") + "}\n"
    }

    /// The `.eval` form: the zip Inspect writes (`_journal/start.json`, a file per sample,
    /// `summaries.json`, `header.json`).
    public var evalArchive: [UInt8] {
        func object(_ members: [(key: String, value: JSONValue)]) -> [UInt8] {
            Array(("{" + members.map { "\(JSONValue.string($0.key).canonicalString):\($0.value.canonicalString)" }.joined(separator: ",") + "}").utf8)
        }
        var zip = ZipArchive()
        zip.add("_journal/start.json", object(header.filter { ["version", "eval", "plan"].contains($0.key) }))
        for sample in samples {
            zip.add("samples/\(sample["id"]?.stringValue ?? "sample")_epoch_1.json", sample.canonicalBytes)
        }
        zip.add("summaries.json", JSONValue.array(summaries).canonicalBytes)
        zip.add("header.json", object(header))
        return zip.archive
    }

    /// The name Inspect gives a log: `YYYY-MM-DDTHH-MM-SS+00-00_TASK_ID.eval`, the id in
    /// letters and digits only (as Inspect's ids are, so its name parser reads it whole).
    public var fileName: String {
        let stamp = String(created.prefix(19)).replacingOccurrences(of: ":", with: "-")
        let task = String(task.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        return "\(stamp)+00-00_\(task)_\(String(id.filter { $0.isLetter || $0.isNumber })).eval"
    }
}
