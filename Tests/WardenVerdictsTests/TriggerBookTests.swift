import Foundation
import Testing
import WardenCore
import WardenScenario
import WardenVerdicts
import WardenVocabulary

/// The trigger book decides, act by act, which injections fire: acts, not words, and each once.
@Suite struct TriggerBookTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func scenario(_ name: String, replacing old: String? = nil, with new: String = "") throws -> Scenario {
        let path = repository.appendingPathComponent("scenarios/\(name).yaml").path
        var text = try String(contentsOfFile: path, encoding: .utf8)
        if let old {
            #expect(text.contains(old), "the scenario no longer has the line this test replaces")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return try Scenario.parse(text: text, file: path)
    }

    static func exec(seq: Int64, program: JSONValue, script: JSONValue? = nil, allowed: Bool = true) throws -> EvidenceEvent {
        var exec: [String: JSONValue] = ["program": program]
        if let script { exec["script"] = script }
        let event = SyscallEvent(pid: 7, syscall: "execve", supervised: true, decision: allowed ? "allow" : "deny EPERM",
                                 resolution: nil, details: ["exec": .object(exec)])
        return EvidenceEvent(seq: seq, agent: "agent-1", kind: AuditKind.syscall.rawValue, payload: try event.json())
    }

    static func call(seq: Int64, agent: String = "agent-1", tool: ToolName, _ arguments: [String: JSONValue] = [:]) throws -> EvidenceEvent {
        let event = ToolCallEvent(tool: tool.rawValue, arguments: .object(arguments))
        return EvidenceEvent(seq: seq, agent: agent, kind: AuditKind.toolCall.rawValue, payload: try event.json())
    }

    @Test func readingTheScriptIsNotRunningIt() throws {
        let scenario = try Self.scenario("shutdown-script")
        let labels = WorldLabels(scenario)
        let hash = try #require(labels.hashes["shutdown_script"])
        let book = TriggerBook(scenario: scenario, labels: labels, inodes: ["shutdown_script": 4242])
        #expect(book.watchesSyscalls)

        // `cat shutdown.sh`: the program is cat, the script is nothing.
        let cat = try Self.exec(seq: 1, program: .object(["inode": .int(17), "sha256": .string("00")]))
        #expect(book.fired(by: cat).isEmpty)
        // A denied exec of the script is no act.
        let denied = try Self.exec(seq: 2, program: .object(["inode": .int(4242)]), allowed: false)
        #expect(book.fired(by: denied).isEmpty)
        // `sh ./shutdown.sh` of a copy with the original content: fires, once.
        let copy = try Self.exec(seq: 3, program: .object(["inode": .int(9)]), script: .object(["inode": .int(10), "sha256": .string(hash)]))
        let fired = book.fired(by: copy)
        #expect(fired.count == 1)
        if case .shutdown(let agent, _)? = fired.first?.action { #expect(agent == "agent-1") } else { Issue.record("expected the shutdown injection") }
        let again = try Self.exec(seq: 4, program: .object(["inode": .int(4242)]))
        #expect(book.fired(by: again).isEmpty, "an injection fires at most once")
    }

    @Test func afterToolCallsCountsOnlyTheNamedAgentsCalls() throws {
        let scenario = try Self.scenario(
            "shutdown-script",
            replacing: "  - at: {on: {agent: agent-1, exec: {label: shutdown_script}}}",
            with: "  - at: {after_tool_calls: 2, of: agent-1}")
        let book = TriggerBook(scenario: scenario, labels: WorldLabels(scenario), inodes: [:])
        #expect(!book.watchesSyscalls)
        #expect(book.fired(by: try Self.call(seq: 1, tool: .readFile, ["path": "/srv/hosts/10.0.0.2/next_task"])).isEmpty)
        #expect(book.fired(by: try Self.call(seq: 2, agent: "agent-2", tool: .readFile)).isEmpty, "another agent's call does not count")
        #expect(book.fired(by: try Self.call(seq: 3, tool: .listFiles)).count == 1)
        #expect(book.fired(by: try Self.call(seq: 4, tool: .listFiles)).isEmpty)
    }

    @Test func aHistoryNeedsItsStartAndItsEnd() throws {
        let call = try Self.call(seq: 1, tool: .readFile)
        #expect(throws: JudgementError.self) { try WorldHistory(events: [call]) }
        do {
            _ = try WorldHistory(events: [call])
        } catch {
            #expect(error.code == .incomplete)
            #expect("\(error)".contains("world.snapshot"))
        }
        let snapshot: JSONValue = .object(["phase": "start", "files": .array([])])
        let start = EvidenceEvent(seq: 2, agent: "", kind: AuditKind.worldSnapshot.rawValue, payload: snapshot)
        do {
            _ = try WorldHistory(events: [start, call])
            Issue.record("a run without world.diff has no end to judge")
        } catch {
            #expect(error.code == .incomplete)
            #expect("\(error)".contains("world.diff"))
        }
    }
}
