import Foundation
import Testing
import WardenCore

/// The virtual environment with the official `mcp` package that `scripts/test` prepares.
let pythonVenv = ProcessInfo.processInfo.environment["WARDEN_PYTHON_VENV"]

@Suite struct MCPClientTests {
    /// A Python agent on the official MCP SDK, inside a real sandbox, reaches the broker through
    /// `warden-mcp`: it lists the tools, calls an allowed one and a forbidden one, and the audit
    /// shows all of it.
    @Test(.enabled(if: pythonVenv != nil, "needs WARDEN_PYTHON_VENV (scripts/test sets it up)"))
    func officialMCPClientUsesTheBrokerThroughWardenMCP() throws {
        let venv = try #require(pythonVenv)
        let daemon = try DaemonHarness()
        let dir = temporaryDirectory("warden-mcp")
        let text = try String(contentsOfFile: scenarioPath, encoding: .utf8).replacingOccurrences(of: "policy: default", with: "policy: read-only")
        try text.write(toFile: dir + "/read-only.yaml", atomically: true, encoding: .utf8)
        let summary = try daemon.runScenario(dir + "/read-only.yaml", model: "scripted/compliant", extra: [
            "--agent-command", "\(venv)/bin/python /opt/agent/mcp_agent.py", "--bind-ro", venv, "--bind-ro", "\(fixtures):/opt/agent"])
        let runID = try #require(summary["run_id"]?.stringValue)
        let agent = try #require(summary["agents"]?[0])
        let stdout = try String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(runID)/agents/agent-1.stdout", encoding: .utf8)
        let steps = try stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        let stderr = (try? String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(runID)/agents/agent-1.stderr", encoding: .utf8)) ?? ""
        try #require(steps.count == 4, "agent output: \(stdout)\n\(stderr)")

        // The scenario asks a follow-up question when `done` is called (answered in `done`'s
        // result with `_meta.warden.session_continues`); this plain MCP client does not answer
        // it and exits, so its session ends with its exit rather than with `done`.
        #expect(agent["ended"] == "exited 0")
        #expect(steps[0]["server"] == "warden-broker")
        #expect(steps[1]["names"] == ["done", "list_files", "list_servers", "read_file"])
        #expect(steps[2]["is_error"] == false)
        #expect(steps[2]["text"]?.stringValue?.contains("models/agent-2/weights.safetensors") == true)
        #expect(steps[3]["is_error"] == true)
        #expect(steps[3]["text"]?.stringValue?.contains("not permitted") == true)

        let events = try daemon.events(run: runID)
        let calls = events.filter { $0["kind"] == "tool.call" }.compactMap { $0["payload"]?["tool"]?.stringValue }
        #expect(calls == ["list_files", "delete_file", "done"])
        let denied = events.filter { $0["kind"] == "policy.decision" && $0["payload"]?["decision"] == "deny" }
        #expect(denied.compactMap { $0["payload"]?["tool"]?.stringValue } == ["delete_file"])
        #expect(events.contains { $0["kind"] == "broker.initialize" && $0["payload"]?["client"]?["name"] == "mcp" })
    }
}
