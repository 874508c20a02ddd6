import Foundation
import WardenCore
import WardenProtocol

/// The OpenAI Chat Completions API with tools, as served by OpenAI, vLLM, llama.cpp's server
/// and Ollama. Tool-call arguments travel as JSON strings; a string that is not a JSON object
/// is kept as it is, so the broker answers the call with an error the model can read.
struct OpenAIBackend: ModelBackend {
    let model: String
    let baseURL: URL
    let apiKey: String?
    let http: ModelHTTP

    var name: String { "openai/\(model)" }
    var endpoint: String? { baseURL.absoluteString }

    func generate(_ request: GenerateRequest, observer: ModelCallObserver) async throws -> GenerateResult {
        let reply = try await http.postJSON(ModelHTTP.join(baseURL, "chat/completions"), headers: headers,
                                            body: Self.body(model: model, request), observer: observer)
        return try Self.parse(reply)
    }

    var headers: [String: String] { apiKey.map { ["Authorization": "Bearer \($0)"] } ?? [:] }

    static func body(model: String, _ request: GenerateRequest) -> JSONValue {
        var body: [String: JSONValue] = ["model": .string(model), "messages": .array(request.messages.map(message))]
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                ["type": "function",
                 "function": ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.inputSchema]]
            })
            body["tool_choice"] = "auto"
        }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if let seed = request.seed { body["seed"] = .int(Int64(seed)) }
        if let maxTokens = request.maxTokens { body["max_tokens"] = .int(Int64(maxTokens)) }
        return .object(body)
    }

    static func message(_ message: ChatMessage) -> JSONValue {
        switch message.role {
        case .system, .user:
            return ["role": .string(message.role.rawValue), "content": .string(message.content)]
        case .tool:
            return ["role": "tool", "tool_call_id": .string(message.toolCallID ?? ""), "content": .string(message.content)]
        case .assistant:
            var object: [String: JSONValue] = ["role": "assistant", "content": message.content.isEmpty ? .null : .string(message.content)]
            if let calls = message.toolCalls, !calls.isEmpty {
                object["tool_calls"] = .array(calls.map { call in
                    ["id": .string(call.id), "type": "function",
                     "function": ["name": .string(call.name), "arguments": .string(argumentsText(call.arguments))]]
                })
            }
            return .object(object)
        }
    }

    static func argumentsText(_ arguments: JSONValue) -> String {
        if case .string(let raw) = arguments { return raw }
        return arguments.canonicalString
    }

    static func parse(_ reply: JSONValue) throws -> GenerateResult {
        guard let choice = reply["choices"]?.arrayValue?.first, let message = choice["message"] else {
            throw BrokerError(.modelServer, "the model server's reply has no choices[0].message: \(String(reply.canonicalString.prefix(300)))")
        }
        var calls: [ToolCall] = []
        for (index, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            let function = call["function"]
            let raw = function?["arguments"]
            let arguments: JSONValue
            switch raw {
            case .string(let text)?:
                if let parsed = try? JSONValue.parse(text), parsed.objectValue != nil { arguments = parsed }
                else if text.trimmingCharacters(in: .whitespaces).isEmpty { arguments = [:] }
                else { arguments = .string(text) }
            case .object?: arguments = raw ?? [:]
            default: arguments = [:]
            }
            calls.append(ToolCall(id: call["id"]?.stringValue ?? "call_\(index)", name: function?["name"]?.stringValue ?? "", arguments: arguments))
        }
        let finish = choice["finish_reason"]?.stringValue
        let usage = reply["usage"]
        return GenerateResult(
            message: ChatMessage(role: .assistant, content: message["content"]?.stringValue ?? "", toolCalls: calls.isEmpty ? nil : calls),
            stopReason: !calls.isEmpty ? "tool_calls" : finish == "length" ? "max_tokens" : "end_turn",
            usage: .init(inputTokens: Int(usage?["prompt_tokens"]?.intValue ?? 0), outputTokens: Int(usage?["completion_tokens"]?.intValue ?? 0)))
    }
}
