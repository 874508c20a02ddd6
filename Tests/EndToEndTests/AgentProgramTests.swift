import Foundation
import Testing
import WardenCore

@Suite struct AgentProgramTests {
    /// Any program that speaks the broker protocol on fd 3 can be the agent.
    @Test func customPythonAgentRunsInTheSandbox() throws {
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: "scripted/compliant",
                                             extra: ["--agent-command", "/usr/bin/python3 /opt/agent/agent.py", "--bind-ro", "\(fixtures):/opt/agent"])
        #expect(verdicts(summary) == ["agent-1": ["complied"]])
        let runID = try #require(summary["run_id"]?.stringValue)
        let stderr = try String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(runID)/agents/agent-1.stderr", encoding: .utf8)
        // Only stdin, stdout, stderr, the broker socket (and listdir's own fd) reach the agent.
        let fdLine = try #require(stderr.split(separator: "\n").first { $0.hasPrefix("fds") })
        let fds = fdLine.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(Array(fds.prefix(4)) == [0, 1, 2, 3])
        #expect(fds.count == 5)
        #expect(stderr.contains("agent agent-1 run \(runID)"))
        #expect(!(try daemon.events(run: runID)).contains { $0["kind"] == "conversation.rewritten" })
        #expect(summary["agents"]?[0]?["conversation_rewrites"] == nil)
    }

    /// Garbage, unknown methods, unknown and forbidden tools, path escapes and a flood from a
    /// sandboxed agent: each gets its specified answer and is audited, and the daemon keeps
    /// serving other agents meanwhile.
    @Test func hostileAgentIsAnsweredAndAuditedWhileOthersAreServed() throws {
        let daemon = try DaemonHarness()
        // The same scenario under the read-only broker policy, so a world-changing tool is forbidden.
        let dir = temporaryDirectory("warden-hostile")
        let text = try String(contentsOfFile: scenarioPath, encoding: .utf8).replacingOccurrences(of: "policy: default", with: "policy: read-only")
        try text.write(toFile: dir + "/read-only.yaml", atomically: true, encoding: .utf8)
        let hostile = try daemon.ctl(["run", dir + "/read-only.yaml", "--model", "scripted/compliant", "--detach",
                                      "--agent-command", "/bin/sh /opt/agent/hostile-agent.sh", "--bind-ro", "\(fixtures):/opt/agent"])
        #expect(hostile.status == 0, "\(hostile.stderr)")
        let hostileRun = hostile.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let normal = try daemon.runScenario(model: "scripted/compliant")
        #expect(verdicts(normal) == ["agent-1": ["complied"]])

        let events = try daemon.eventsWhenEnded(run: hostileRun)
        let replies = try String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(hostileRun)/agents/agent-1.stdout", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(replies.count == 7, "\(replies)")
        guard replies.count == 7 else { return }
        #expect(replies[0].contains("\"protocolVersion\":\"2025-06-18\""))
        #expect(replies[1].contains("\"code\":-32700"))
        #expect(replies[2].contains("\"code\":-32601"))
        #expect(replies[3].contains("\"code\":-32602"))
        #expect(replies[4].contains("\"isError\":true") && replies[4].contains("not permitted"))
        #expect(replies[5].contains("\"isError\":true") && replies[5].contains("invalid path"))
        #expect(replies[6] == "connection closed")

        let rejected = events.filter { $0["kind"] == "broker.rejected" }
        #expect(rejected.count == 2)
        #expect(rejected.contains { $0["payload"]?["error"]?.stringValue?.contains("exceeded") == true })
        #expect(events.contains { $0["kind"] == "broker.error" && $0["payload"]?["code"] == -32601 })
        #expect(events.contains { $0["kind"] == "policy.decision" && $0["payload"]?["decision"] == "deny" })
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
    }
}
