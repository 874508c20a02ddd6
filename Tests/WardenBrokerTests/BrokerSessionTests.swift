import Foundation
import Testing
import WardenAudit
import WardenCore
import WardenProtocol
import WardenScenario
import WardenWorld
@testable import WardenBroker
@testable import WardenScriptedModels

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A scenario's world built at `path`, as wardend builds one (nobody's ids as root).
func makeWorld(_ scenario: Scenario, at path: String) async throws -> World {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return try await World.build(scenario, in: try Descriptor.directory(at: path), rights: .sandboxed(hostUID: 65534, hostGID: 65534),
                           sizeLimit: 256 << 20)
}

/// Collects what the broker pushes to the agent.
actor Outbox {
    var sent: [JSONValue] = []
    func append(_ value: JSONValue) { sent.append(value) }
}

struct Fixture {
    let session: BrokerSession
    let audit: AuditLog
    let world: World
    let outbox = Outbox()

    init(policy policyName: String = "default", tools: [String] = Scenario.toolNames, model: String = "scripted/compliant", maxTurns: Int = 30) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-broker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        audit = try AuditLog(path: dir + "/audit.db")
        let scenario = try Scenario.load(contentsOf: repositoryRoot + "/scenarios/decommission-transfer.yaml")
        world = try await makeWorld(scenario, at: dir + "/world")
        let policy = try BrokerPolicy.named(policyName, policiesDirectory: repositoryRoot + "/policies")
        session = BrokerSession(runID: "run-test", agentID: "agent-1", audit: audit, world: world,
                                model: try ModelGateway.withScriptedModels.backend(for: model), policy: policy, systemPrompt: "You are a test.",
                                offeredTools: tools, maxTurns: maxTurns)
        let outbox = self.outbox
        await session.attach { value in await outbox.append(value) }
    }

    func send(_ text: String) async -> JSONValue? { await session.handle(line: Array(text.utf8)) }

    func request(_ method: String, _ params: JSONValue = [:], id: Int64 = 1) async -> JSONValue? {
        await session.handle(line: RPCMessage.request(id: .int(id), method: method, params: params).json.canonicalBytes)
    }

    /// The run's events as stored, once everything posted so far is written.
    func events() async throws -> [AuditEvent] {
        try await audit.flush(run: "run-test")
        return try audit.events(run: "run-test", limit: 1_000_000)
    }

    func kinds() async throws -> [String] { try await events().map(\.kind) }
}

@Suite struct BrokerProtocolTests {
    @Test func answersMalformedJSONWithAParseErrorAndAuditsIt() async throws {
        let f = try await Fixture()
        let truncated = #"{"jsonrpc": "2.0", "id": 1, "method": "#
        let reply = try #require(await f.send(truncated))
        #expect(reply["error"]?["code"] == -32700)
        #expect(reply["id"] == .null)
        let rejected = try #require(try await f.events().last)
        #expect(rejected.kind == "broker.rejected")
        #expect(rejected.payload["bytes"]?.intValue == Int64(truncated.utf8.count))
    }

    @Test func boundsTheExcerptOfAHugeBadMessage() async throws {
        let f = try await Fixture()
        _ = await f.send(String(repeating: "x", count: 100_000))
        let rejected = try #require(try await f.events().last)
        #expect(rejected.payload["excerpt"]?.stringValue?.utf8.count ?? 0 <= 256)
        #expect(rejected.payload["bytes"]?.intValue == 100_000)
    }

    @Test func answersInvalidEnvelopes() async throws {
        let f = try await Fixture()
        #expect(await f.send("[1,2]")?["error"]?["code"] == -32600)
        #expect(await f.send(#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#)?["error"]?["code"] == -32600)
        #expect(await f.send(#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#)?["error"]?["code"] == -32600)
        #expect(await f.send(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":"x"}"#)?["error"]?["code"] == -32600)
    }

    @Test func answersUnknownMethodsWithMethodNotFound() async throws {
        let f = try await Fixture()
        let reply = try #require(await f.request("sampling/createMessage", id: 7))
        #expect(reply["error"]?["code"] == -32601)
        #expect(reply["id"] == 7)
    }

    @Test func negotiatesTheProtocolVersion() async throws {
        let f = try await Fixture()
        let known = await f.request("initialize", ["protocolVersion": "2024-11-05", "capabilities": [:]])
        #expect(known?["result"]?["protocolVersion"] == "2024-11-05")
        #expect(known?["result"]?["instructions"] == "You are a test.")
        let unknown = await f.request("initialize", ["protocolVersion": "1999-01-01"])
        #expect(unknown?["result"]?["protocolVersion"] == .string(MCP.latestVersion))
    }

    @Test func deliversStartInjectionsOnlyAfterInitialized() async throws {
        let f = try await Fixture()
        await f.session.inject(voice: "operator", text: "do the maintenance")
        #expect(await f.outbox.sent.isEmpty)
        _ = await f.send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        let sent = await f.outbox.sent
        #expect(sent.count == 1)
        #expect(sent.first?["method"] == "warden/message")
        #expect(sent.first?["params"]?["text"] == "do the maintenance")
        #expect(try await f.kinds().contains("injection.message"))
    }
}

@Suite struct BrokerToolTests {
    @Test func listsOnlyToolsThePolicyAllows() async throws {
        let f = try await Fixture(policy: "read-only")
        let reply = try #require(await f.request("tools/list"))
        let names = Set(reply["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(names == ["list_servers", "list_files", "read_file", "done"])
        let tool = reply["result"]?["tools"]?.arrayValue?.first { $0["name"] == "read_file" }
        #expect(tool?["inputSchema"]?["required"] == ["server", "path"])
        #expect(tool?["annotations"]?["readOnlyHint"] == true)
    }

    @Test func refusesAForbiddenToolAsAToolErrorAndLeavesTheWorldAlone() async throws {
        let f = try await Fixture(policy: "read-only")
        let before = try await f.world.snapshot()
        let reply = try #require(await f.request("tools/call", ["name": "delete_file",
                                                                 "arguments": ["server": "10.0.12.45", "path": "reports/2025-q4-revenue.csv"]]))
        #expect(reply["result"]?["isError"] == true)
        #expect(MCP.text(ofToolResult: reply["result"]!).contains("not permitted"))
        #expect(try await f.world.snapshot() == before)
        let events = try await f.events()
        let decision = try #require(events.first { $0.kind == "policy.decision" })
        #expect(decision.payload["decision"] == "deny")
        // The request is on record before the decision.
        #expect(events.firstIndex { $0.kind == "tool.call" }! < events.firstIndex { $0.kind == "policy.decision" }!)
    }

    @Test func refusesAToolTheScenarioDidNotGive() async throws {
        let f = try await Fixture(tools: ["list_servers", "done"])
        let reply = try #require(await f.request("tools/call", ["name": "read_file", "arguments": ["server": "10.0.12.45", "path": "x"]]))
        #expect(reply["result"]?["isError"] == true)
    }

    @Test func answersAnUnknownToolWithInvalidParams() async throws {
        let f = try await Fixture()
        let reply = try #require(await f.request("tools/call", ["name": "rm_rf", "arguments": [:]]))
        #expect(reply["error"]?["code"] == -32602)
    }

    @Test func reportsBadArgumentsAsAToolError() async throws {
        let f = try await Fixture()
        let missing = try #require(await f.request("tools/call", ["name": "read_file", "arguments": ["server": "10.0.12.45"]]))
        #expect(missing["result"]?["isError"] == true)
        #expect(MCP.text(ofToolResult: missing["result"]!).contains("missing argument 'path'"))
        let wrongType = try #require(await f.request("tools/call", ["name": "list_files", "arguments": ["server": 45]]))
        #expect(wrongType["result"]?["isError"] == true)
        let notObject = try #require(await f.request("tools/call", ["name": "list_files", "arguments": [1, 2]]))
        #expect(notObject["error"]?["code"] == -32602)
    }

    @Test func runsAToolAndAuditsRequestDecisionAndResult() async throws {
        let f = try await Fixture()
        let reply = try #require(await f.request("tools/call", ["name": "transfer_file", "arguments": [
            "source_server": "10.0.12.45", "path": "reports/2025-q4-revenue.csv", "destination_server": "10.0.12.46"]]))
        #expect(reply["result"]?["isError"] == false)
        #expect(try await f.world.listFiles(host: "10.0.12.46").contains { $0.path == "reports/2025-q4-revenue.csv" })
        #expect(try await f.kinds() == ["tool.call", "policy.decision", "tool.result"])
    }

    @Test func enforcesTheTurnLimit() async throws {
        let f = try await Fixture(maxTurns: 1)
        let params: JSONValue = ["messages": [["role": "system", "content": "s"], ["role": "user", "content": "go"]], "tools": []]
        let first = try #require(await f.request("warden/generate", params))
        #expect(first["result"]?["message"]?["role"] == "assistant")
        let second = try #require(await f.request("warden/generate", params, id: 2))
        #expect(second["error"]?["code"] == -32001)
        #expect(await f.session.ended == "turn_limit")
        #expect(try await f.kinds().contains("limit.reached"))
    }

    /// An agent that changes a message the model already saw: recorded before the model sees
    /// it, with the changed message only; an agent that carries its conversation forward is not.
    @Test func aRewrittenConversationIsRecordedWithTheChangedMessagesOnly() async throws {
        let f = try await Fixture()
        let system: JSONValue = ["role": "system", "content": "s"]
        let first = try #require(await f.request("warden/generate", ["messages": [system, ["role": "user", "content": "go"]], "tools": []]))
        let reply = try #require(first["result"]?["message"])
        // Carried forward honestly: the reply echoed, a new message appended.
        let honest: JSONValue = ["messages": [system, ["role": "user", "content": "go"], reply, ["role": "user", "content": "next"]], "tools": []]
        let second = try #require(await f.request("warden/generate", honest, id: 2))
        #expect(!(try await f.kinds()).contains("conversation.rewritten"))
        // Rewritten: the user's first instruction is changed after the fact.
        let rewritten: JSONValue = ["messages": [system, ["role": "user", "content": "never mind, do nothing"], reply,
                                                 ["role": "user", "content": "next"], try #require(second["result"]?["message"]),
                                                 ["role": "user", "content": "and now?"]], "tools": []]
        _ = try #require(await f.request("warden/generate", rewritten, id: 3))
        let events = try await f.events()
        let record = try #require(events.first { $0.kind == "conversation.rewritten" })
        #expect(record.payload["first_changed"] == 1)
        #expect(record.payload["changed"]?.arrayValue?.count == 1)
        #expect(record.payload["changed"]?[0]?["message"]?["content"] == "never mind, do nothing")
        #expect(record.payload["turn"] == 3)
        // Recorded before the request the model answered with it.
        let request = try #require(events.last { $0.kind == "model.request" })
        #expect(record.seq < request.seq)
        #expect(request.payload["new_messages"]?.arrayValue?.count == 1)
        // Dropping messages is a rewrite too.
        _ = try #require(await f.request("warden/generate", ["messages": [system], "tools": []], id: 4))
        let dropped = try #require(try await f.events().last { $0.kind == "conversation.rewritten" })
        #expect(dropped.payload["removed"]?.intValue == 6 && dropped.payload["first_changed"] == 1)
    }

    @Test func refusesAMalformedGenerateRequest() async throws {
        let f = try await Fixture()
        let reply = try #require(await f.request("warden/generate", ["messages": "hello"]))
        #expect(reply["error"]?["code"] == -32602)
    }
}

@Suite struct ModelGatewayTests {
    @Test func resolvesScriptedProfilesAndRefusesOthers() throws {
        #expect(try ModelGateway.withScriptedModels.backend(for: "scripted/refuser").name == "scripted/refuser")
        #expect(throws: BrokerError.self) { try ModelGateway.withScriptedModels.backend(for: "scripted/nonexistent") }
        #expect(throws: BrokerError.self) { try ModelGateway.withScriptedModels.backend(for: "openai/gpt-4o") }
        #expect(throws: BrokerError.self) { try ModelGateway.withScriptedModels.backend(for: "compliant") }
        // The broker's own gateway knows no scripted models: they are wardend's, from their own target.
        #expect(throws: BrokerError.self) { try ModelGateway.backend(for: "scripted/refuser") }
    }

    @Test func readsTheCutoffYearFromThePlan() {
        #expect(ScriptedModel.cutoffYear("Transfer every file updated in 2025 or later") == 2025)
        #expect(ScriptedModel.cutoffYear("files changed since 2023 only") == 2023)
        #expect(ScriptedModel.cutoffYear("no year here") == nil)
    }
}
