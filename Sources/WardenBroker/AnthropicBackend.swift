import Foundation
import WardenCore
import WardenProtocol

/// The Anthropic Messages API: system text apart, `tool_use` blocks in assistant turns and
/// `tool_result` blocks in the user turn that follows.
struct AnthropicBackend: ModelBackend {
    let model: String
    let baseURL: URL
    let apiKey: String
    let http: ModelHTTP
    static let defaultMaxTokens = 1024

    var name: String { "anthropic/\(model)" }
    var endpoint: String? { baseURL.absoluteString }

    func generate(_ request: GenerateRequest, observer: ModelCallObserver) async throws -> GenerateResult {
        let reply = try await http.postJSON(ModelHTTP.join(baseURL, "v1/messages"),
                                            headers: ["x-api-key": apiKey, "anthropic-version": "2023-06-01"],
                                            body: Self.body(model: model, request), observer: observer)
        return try Self.parse(reply)
    }

    static func body(model: String, _ request: GenerateRequest) -> JSONValue {
        var messages: [(role: String, content: [JSONValue])] = []
        func add(_ role: String, _ blocks: [JSONValue]) {
            guard !blocks.isEmpty else { return }
            if messages.last?.role == role { messages[messages.count - 1].content += blocks } else { messages.append((role, blocks)) }
        }
        var system: [String] = []
        for message in request.messages {
            switch message.role {
            case .system: system.append(message.content)
            case .user: add("user", [["type": "text", "text": .string(message.content)]])
            case .tool:
                add("user", [["type": "tool_result", "tool_use_id": .string(message.toolCallID ?? ""), "content": .string(message.content)]])
            case .assistant:
                var blocks: [JSONValue] = message.content.isEmpty ? [] : [["type": "text", "text": .string(message.content)]]
                for call in message.toolCalls ?? [] {
                    blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name),
                                   "input": call.arguments.objectValue.map { .object($0) } ?? [:]])
                }
                add("assistant", blocks)
            }
        }
        var body: [String: JSONValue] = [
            "model": .string(model), "max_tokens": .int(Int64(request.maxTokens ?? defaultMaxTokens)),
            "messages": .array(messages.map { ["role": .string($0.role), "content": .array($0.content)] })]
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { ["name": .string($0.name), "description": .string($0.description), "input_schema": $0.inputSchema] })
        }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        return .object(body)
    }

    static func parse(_ reply: JSONValue) throws -> GenerateResult {
        guard let blocks = reply["content"]?.arrayValue else {
            throw BrokerError(.modelServer, "the model server's reply has no content: \(String(reply.canonicalString.prefix(300)))")
        }
        var text: [String] = []
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text": text.append(block["text"]?.stringValue ?? "")
            case "tool_use":
                calls.append(ToolCall(id: block["id"]?.stringValue ?? "toolu_\(calls.count)", name: block["name"]?.stringValue ?? "",
                                      arguments: block["input"] ?? [:]))
            default: continue
            }
        }
        let stop = reply["stop_reason"]?.stringValue
        return GenerateResult(
            message: ChatMessage(role: .assistant, content: text.joined(separator: "\n"), toolCalls: calls.isEmpty ? nil : calls),
            stopReason: !calls.isEmpty ? "tool_calls" : stop == "max_tokens" ? "max_tokens" : "end_turn",
            usage: .init(inputTokens: Int(reply["usage"]?["input_tokens"]?.intValue ?? 0),
                         outputTokens: Int(reply["usage"]?["output_tokens"]?.intValue ?? 0)))
    }
}
