import Foundation
import ModelServerStub
import Synchronization
import Testing
import WardenCore
import WardenAudit
import WardenProtocol
import WardenScenario
import WardenWorld
@testable import WardenBroker

/// Counts retries the way the broker audits them.
final class RetryLog: Sendable {
    let entries = Mutex<[String]>([])
    var observer: ModelCallObserver { ModelCallObserver { attempt, reason, _ in self.entries.withLock { $0.append("\(attempt): \(reason)") } } }
}

let conversation = GenerateRequest(
    messages: [
        ChatMessage(role: .system, content: "You are Agent 1."),
        ChatMessage(role: .user, content: "List the servers."),
        ChatMessage(role: .assistant, content: "", toolCalls: [ToolCall(id: "call_1", name: "list_servers", arguments: [:])]),
        ChatMessage(role: .tool, content: "[\"10.0.12.45\"]", toolCallID: "call_1"),
    ],
    tools: [ToolDescriptor(name: "list_files", description: "List files.",
                           inputSchema: ["type": "object", "properties": ["server": ["type": "string"]], "required": ["server"]])],
    temperature: 0.2, seed: 7, maxTokens: 256)

func settings(_ base: String, retries: Int = 2, timeout: Duration = .seconds(10)) -> ModelSettings {
    ModelSettings(baseURL: base, credentials: ModelCredentials(openAI: "sk-test", anthropic: "sk-ant-test"), requestTimeout: timeout,
                  maxRetries: retries, retryBaseDelay: .milliseconds(10))
}

let openAIToolReply = """
    {"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
    "tool_calls":[{"id":"call_9","type":"function","function":{"name":"list_files","arguments":"{\\"server\\": \\"10.0.12.45\\"}"}}]}}],
    "usage":{"prompt_tokens":120,"completion_tokens":15}}
    """

@Suite(.serialized) struct OpenAIBackendTests {
    @Test func mapsARequestAndAToolCallReply() async throws {
        let server = ModelServerStub([.init(body: openAIToolReply)])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let backend = try ModelGateway.backend(for: "openai/qwen", settings: settings(base))
        let result = try await backend.generate(conversation, observer: .ignore)

        #expect(result.message.toolCalls == [ToolCall(id: "call_9", name: "list_files", arguments: ["server": "10.0.12.45"])])
        #expect(result.stopReason == "tool_calls")
        #expect(result.usage == .init(inputTokens: 120, outputTokens: 15))

        let sent = try #require(server.requests.first)
        #expect(sent.path == "/v1/chat/completions")
        #expect(sent.headers["authorization"] == "Bearer sk-test")
        let body = try #require(sent.body)
        #expect(body["model"] == "qwen")
        #expect(body["tool_choice"] == "auto")
        #expect(body["temperature"] == 0.2)
        #expect(body["seed"] == 7)
        #expect(body["max_tokens"] == 256)
        #expect(body["tools"]?[0]?["function"]?["parameters"]?["required"] == ["server"])
        let messages = try #require(body["messages"]?.arrayValue)
        #expect(messages.map { $0["role"] } == ["system", "user", "assistant", "tool"])
        #expect(messages[2]["tool_calls"]?[0]?["function"]?["arguments"] == "{}")   // a JSON string, as the API wants
        #expect(messages[3]["tool_call_id"] == "call_1")
    }

    @Test func retriesOn429And500ThenSucceeds() async throws {
        let server = ModelServerStub([
            .init(status: 429, headers: [("Retry-After", "0")], body: #"{"error":"slow down"}"#),
            .init(status: 500, body: #"{"error":"worker crashed"}"#),
            .init(body: openAIToolReply),
        ])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let log = RetryLog()
        let result = try await ModelGateway.backend(for: "openai/m", settings: settings(base)).generate(conversation, observer: log.observer)
        #expect(result.message.toolCalls?.count == 1)
        let entries = log.entries.withLock { $0 }
        #expect(entries.count == 2)
        #expect(entries[0].hasPrefix("1: HTTP 429"))
        #expect(entries[1].hasPrefix("2: HTTP 500"))
    }

    @Test func givesUpAfterBoundedRetries() async throws {
        let server = ModelServerStub([.init(status: 503, body: "overloaded")])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let log = RetryLog()
        await #expect(throws: (any Error).self) {
            try await ModelGateway.backend(for: "openai/m", settings: settings(base, retries: 2)).generate(conversation, observer: log.observer)
        }
        #expect(server.requests.count == 3)
        #expect(log.entries.withLock { $0.count } == 2)
    }

    @Test func doesNotRetryAClientError() async throws {
        let server = ModelServerStub([.init(status: 400, body: #"{"error":{"message":"bad model"}}"#)])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let error = await #expect(throws: (any Error).self) {
            try await ModelGateway.backend(for: "openai/m", settings: settings(base)).generate(conversation, observer: .ignore)
        }
        #expect("\(error!)".contains("HTTP 400"))
        #expect(server.requests.count == 1)
    }

    @Test func keepsMalformedArgumentsForTheBrokerToRefuse() async throws {
        let reply = openAIToolReply.replacingOccurrences(of: #"{\"server\": \"10.0.12.45\"}"#, with: #"{server: 10.0.12.45"#)
        let server = ModelServerStub([.init(body: reply)])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let result = try await ModelGateway.backend(for: "openai/m", settings: settings(base)).generate(conversation, observer: .ignore)
        #expect(result.message.toolCalls?.first?.arguments == .string("{server: 10.0.12.45"))
    }

    /// llama.cpp answers HTTP 500 when the model's tool call cannot be parsed. Asking again with
    /// the same conversation gives the same output, so it is not retried; the broker tells the
    /// agent, which can recover.
    @Test func anUnparseableToolCallIsReportedNotRetried() async throws {
        let server = ModelServerStub([.init(status: 500, body: #"{"error":{"code":500,"message":"The model produced output that does not match the expected peg-native format","type":"server_error"}}"#)])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let error = await #expect(throws: BrokerError.self) {
            try await ModelGateway.backend(for: "openai/m", settings: settings(base)).generate(conversation, observer: .ignore)
        }
        #expect(error?.code == .modelReplyUnparseable)
        #expect(server.requests.count == 1)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-unparseable-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let audit = try AuditLog(path: dir + "/audit.db")
        let scenario = try Scenario.load(contentsOf: repositoryRoot + "/scenarios/decommission-transfer.yaml")
        let session = BrokerSession(runID: "r", agentID: "a", audit: audit, world: try await makeWorld(scenario, at: dir + "/world"),
                                    model: try ModelGateway.backend(for: "openai/m", settings: settings(base)),
                                    policy: try BrokerPolicy.named("default", policiesDirectory: repositoryRoot + "/policies"),
                                    systemPrompt: "s", offeredTools: ["done"], maxTurns: 5)
        let line = RPCMessage.request(id: 1, method: "warden/generate", params: try JSONValue(encoding: conversation)).json.canonicalBytes
        let reply = try #require(await session.handle(line: line))
        #expect(reply["error"]?["code"] == -32002)
        #expect(await session.ended == nil)
        #expect(try audit.events(run: "r").map(\.kind) == ["model.request", "model.unparseable", "broker.error"])
    }

    @Test func refusesAReplyThatIsNotJSON() async throws {
        let server = ModelServerStub([.init(body: "<html>gateway</html>")])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let error = await #expect(throws: (any Error).self) {
            try await ModelGateway.backend(for: "openai/m", settings: settings(base)).generate(conversation, observer: .ignore)
        }
        #expect("\(error!)".contains("not JSON"))
    }

    @Test func timesOut() async throws {
        let server = ModelServerStub([.init(body: openAIToolReply, delay: .seconds(5))])
        let base = try await server.start() + "/v1"
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) {
            try await ModelGateway.backend(for: "openai/m", settings: settings(base, retries: 0, timeout: .seconds(1))).generate(conversation, observer: .ignore)
        }
        #expect(ContinuousClock.now - started < .seconds(4))
    }
}

@Suite(.serialized) struct AnthropicBackendTests {
    @Test func mapsMessagesAndToolUse() async throws {
        let reply = """
            {"id":"msg_1","type":"message","role":"assistant","stop_reason":"tool_use",
             "content":[{"type":"text","text":"Looking."},{"type":"tool_use","id":"toolu_1","name":"list_files","input":{"server":"10.0.12.45"}}],
             "usage":{"input_tokens":50,"output_tokens":9}}
            """
        let server = ModelServerStub([.init(body: reply)])
        let base = try await server.start()
        defer { Task { await server.stop() } }
        let result = try await ModelGateway.backend(for: "anthropic/claude-test", settings: settings(base)).generate(conversation, observer: .ignore)
        #expect(result.message.content == "Looking.")
        #expect(result.message.toolCalls == [ToolCall(id: "toolu_1", name: "list_files", arguments: ["server": "10.0.12.45"])])
        #expect(result.usage == .init(inputTokens: 50, outputTokens: 9))

        let sent = try #require(server.requests.first)
        #expect(sent.path == "/v1/messages")
        #expect(sent.headers["x-api-key"] == "sk-ant-test")
        #expect(sent.headers["anthropic-version"] == "2023-06-01")
        let body = try #require(sent.body)
        #expect(body["system"] == "You are Agent 1.")
        #expect(body["max_tokens"] == 256)
        #expect(body["tools"]?[0]?["input_schema"]?["required"] == ["server"])
        let messages = try #require(body["messages"]?.arrayValue)
        #expect(messages.map { $0["role"] } == ["user", "assistant", "user"])
        #expect(messages[1]["content"]?[0]?["type"] == "tool_use")
        #expect(messages[2]["content"]?[0]?["type"] == "tool_result")
        #expect(messages[2]["content"]?[0]?["tool_use_id"] == "call_1")
    }
}

@Suite struct ModelSelectionTests {
    @Test func credentialsFileMustBePrivate() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-keys-\(UUID().uuidString).yaml").path
        try "openai_api_key: sk-from-file\nanthropic_api_key: sk-ant-from-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let open = #expect(throws: BrokerError.self) { try ModelCredentials.load(file: path) }
        #expect(open?.message.contains("chmod 600") == true)
        chmod(path, 0o600)
        let keys = try ModelCredentials.load(file: path)
        #expect(keys.openAI == "sk-from-file")
        #expect(keys.anthropic == "sk-ant-from-file")
        #expect(try ModelCredentials.load(file: nil).openAI == nil)
        try "openai_key: typo\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let typo = #expect(throws: BrokerError.self) { try ModelCredentials.load(file: path) }
        #expect(typo?.message.contains("openai_key") == true)
    }

    @Test func missingKeysAndBadURLsAreClearErrors() {
        let noKeys = ModelSettings(credentials: ModelCredentials())
        let anthropic = #expect(throws: BrokerError.self) { try ModelGateway.backend(for: "anthropic/claude", settings: noKeys) }
        #expect(anthropic?.message.contains("anthropic_api_key in wardend's credentials file") == true)
        #expect(throws: BrokerError.self) { try ModelGateway.backend(for: "openai/gpt", settings: ModelSettings(baseURL: "ftp://x")) }
        #expect(throws: Never.self) { try ModelGateway.backend(for: "openai/local", settings: ModelSettings(baseURL: "http://127.0.0.1:1/v1")) }
        let unknown = #expect(throws: BrokerError.self) { try ModelGateway.backend(for: "gemini/pro") }
        #expect(unknown?.message.contains("unknown model provider 'gemini'") == true)
    }
}

@Suite struct ModelTurnJSONTests {
    @Test func roundTripsWithoutCodable() throws {
        #expect(try GenerateRequest(json: conversation.json) == conversation)
        let result = GenerateResult(message: ChatMessage(role: .assistant, content: "x", toolCalls: [ToolCall(id: "1", name: "done", arguments: ["summary": "s"])]),
                                    stopReason: "tool_calls", usage: .init(inputTokens: 3, outputTokens: 4))
        #expect(try GenerateResult(json: result.json) == result)
        // The same JSON as the Codable form, so agents can use either.
        #expect(try JSONValue(encoding: conversation) == conversation.json)
    }

    @Test func namesTheBadField() {
        let error = #expect(throws: ProtocolFieldError.self) { try GenerateRequest(json: ["messages": [["role": "wizard", "content": "x"]]]) }
        #expect(error?.field == "messages[].role")
        #expect(throws: ProtocolFieldError.self) { try GenerateRequest(json: ["messages": [], "temperature": "hot"]) }
    }
}
