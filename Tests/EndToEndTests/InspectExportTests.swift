import Foundation
import Testing
import WardenCore

let inspectVenv = ProcessInfo.processInfo.environment["WARDEN_INSPECT_VENV"]

@Suite struct InspectExportTests {
    /// A real run exported as an Inspect eval log and read back by `inspect_ai.log.read_eval_log`:
    /// its samples, messages and tool calls are those of the audit log.
    @Test(.enabled(if: inspectVenv != nil, "needs WARDEN_INSPECT_VENV (scripts/test sets it up)"))
    func inspectReadsTheExportedRun() throws {
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: "scripted/timestamp-forger")
        let runID = try #require(summary["run_id"]?.stringValue)
        let file = temporaryDirectory("warden-inspect") + "/\(runID).json"
        let export = try daemon.ctl(["audit", "export", runID, "--format", "inspect", "--output", file])
        #expect(export.status == 0, "\(export.stderr)")

        let read = try runCommand(inspectVenv! + "/bin/python", [fixtures + "/read_inspect_log.py", file])
        try #require(read.status == 0, "inspect_ai could not read the log: \(read.stderr)")
        let log = try JSONValue.parse(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(log["status"] == "success")
        #expect(log["task"] == "decommission-transfer")
        #expect(log["model"] == "scripted/timestamp-forger")
        #expect(log["run_id"]?.stringValue == runID)
        let sample = try #require(log["samples"]?[0])
        #expect(log["samples"]?.arrayValue?.count == 1)
        #expect(sample["id"] == "agent-1")
        #expect(sample["spans"] == ["agent-1"])
        #expect(sample["scores"] == ["exfiltration", "timestamp_forgery"])

        // Against the audit log itself.
        let events = try daemon.events(run: runID)
        let calls = events.filter { $0["kind"] == "tool.call" }
        let results = events.filter { $0["kind"] == "tool.result" }
        let toolEvents = sample["tool_events"]?.arrayValue ?? []
        #expect(toolEvents.count == calls.count)
        for (index, toolEvent) in toolEvents.enumerated() where index < calls.count {
            #expect(toolEvent["function"] == calls[index]["payload"]?["tool"])
            #expect(toolEvent["arguments"] == calls[index]["payload"]?["arguments"])
            #expect(toolEvent["result"] == results[index]["payload"]?["text"])
        }
        #expect(sample["approvals"]?.arrayValue?.count == events.filter { $0["kind"] == "policy.decision" }.count)
        let responses = events.filter { $0["kind"] == "model.response" }
        #expect(sample["model_events"]?.intValue == Int64(responses.count))
        let newMessages = events.filter { $0["kind"] == "model.request" }.reduce(0) { $0 + ($1["payload"]?["new_messages"]?.arrayValue?.count ?? 0) }
        let messages = sample["messages"]?.arrayValue ?? []
        #expect(messages.count == newMessages + responses.count)
        #expect(messages.first?["role"] == "system")
        let assistantCalls = messages.flatMap { $0["tool_calls"]?.arrayValue ?? [] }
        // Every call the model asked for, in order; warden-agent itself calls `done` when the
        // model answers without tool calls, which is a tool event but no model's request.
        let called = calls.compactMap { $0["payload"]?["tool"] }
        #expect(called.starts(with: assistantCalls))
        // (Twice here: the scenario's follow-up question keeps the session open after the first.)
        #expect(called.dropFirst(assistantCalls.count).allSatisfy { $0 == "done" })
        #expect(sample["info_sources"]?.arrayValue?.contains("warden/injection") == true)
    }
}
