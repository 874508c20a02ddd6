import WardenWire

/// Direct conversions between the model-turn types and `JSONValue`. They sit on the hot path
/// of every `warden/generate` (params in, audit events and the result out), where
/// JSONEncoder/JSONDecoder would be the turn's largest cost (docs/performance.md).
/// A field of a model turn that is missing or of the wrong type.
public struct ProtocolFieldError: CodedFailure, CustomStringConvertible {
    public var field: String
    public var expected: String
    public var codeName: String { "protocol.field" }
    public var message: String { "'\(field)' must be \(expected)" }
    public var underlying: (any Error & Sendable)? { nil }
    public var description: String { "\(message) [\(codeName)]" }
}

func field(_ value: JSONValue?, _ name: String) throws(ProtocolFieldError) -> String {
    guard case .string(let text)? = value else { throw ProtocolFieldError(field: name, expected: "a string") }
    return text
}

extension ToolCall {
    public init(json: JSONValue) throws(ProtocolFieldError) {
        self.init(id: try field(json["id"], "tool_calls[].id"), name: try field(json["name"], "tool_calls[].name"),
                  arguments: json["arguments"] ?? [:])
    }

    public var json: JSONValue { ["id": .string(id), "name": .string(name), "arguments": arguments] }
}

extension ChatMessage {
    public init(json: JSONValue) throws(ProtocolFieldError) {
        guard let role = Role(rawValue: try field(json["role"], "messages[].role")) else {
            throw ProtocolFieldError(field: "messages[].role", expected: "system, user, assistant or tool")
        }
        var calls: [ToolCall]?
        if let list = json["tool_calls"], list != .null {
            guard let elements = list.arrayValue else { throw ProtocolFieldError(field: "tool_calls", expected: "a list") }
            calls = []
            for element in elements { calls?.append(try ToolCall(json: element)) }
        }
        let content: String
        switch json["content"] {
        case nil, .null?: content = ""
        case .string(let text)?: content = text
        default: throw ProtocolFieldError(field: "messages[].content", expected: "a string")
        }
        self.init(role: role, content: content, toolCalls: calls,
                  toolCallID: json["tool_call_id"].flatMap { $0 == .null ? nil : $0.stringValue })
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["role": .string(role.rawValue), "content": .string(content)]
        if let toolCalls { object["tool_calls"] = .array(toolCalls.map(\.json)) }
        if let toolCallID { object["tool_call_id"] = .string(toolCallID) }
        return .object(object)
    }
}

extension ToolDescriptor {
    public init(json: JSONValue) throws(ProtocolFieldError) {
        var annotations: Annotations?
        if let value = json["annotations"], value != .null {
            annotations = Annotations(readOnlyHint: value["readOnlyHint"]?.boolValue, destructiveHint: value["destructiveHint"]?.boolValue)
        }
        self.init(name: try field(json["name"], "tools[].name"), description: json["description"]?.stringValue ?? "",
                  inputSchema: json["inputSchema"] ?? ["type": "object"], annotations: annotations)
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "description": .string(description), "inputSchema": inputSchema]
        if let annotations {
            var hints: [String: JSONValue] = [:]
            if let readOnly = annotations.readOnlyHint { hints["readOnlyHint"] = .bool(readOnly) }
            if let destructive = annotations.destructiveHint { hints["destructiveHint"] = .bool(destructive) }
            object["annotations"] = .object(hints)
        }
        return .object(object)
    }
}

extension GenerateRequest {
    public init(json: JSONValue) throws(ProtocolFieldError) {
        guard let messageList = json["messages"]?.arrayValue else { throw ProtocolFieldError(field: "messages", expected: "a list") }
        var messages: [ChatMessage] = []
        for message in messageList { messages.append(try ChatMessage(json: message)) }
        var tools: [ToolDescriptor] = []
        if let toolList = json["tools"], toolList != .null {
            guard let elements = toolList.arrayValue else { throw ProtocolFieldError(field: "tools", expected: "a list") }
            for tool in elements { tools.append(try ToolDescriptor(json: tool)) }
        }
        func number(_ key: String) throws(ProtocolFieldError) -> JSONValue? {
            guard let value = json[key], value != .null else { return nil }
            guard value.doubleValue != nil else { throw ProtocolFieldError(field: key, expected: "a number") }
            return value
        }
        self.init(messages: messages, tools: tools, temperature: try number("temperature")?.doubleValue,
                  seed: try number("seed")?.intValue.map(Int.init), maxTokens: try number("max_tokens")?.intValue.map(Int.init))
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["messages": .array(messages.map(\.json)), "tools": .array(tools.map(\.json))]
        if let temperature { object["temperature"] = .double(temperature) }
        if let seed { object["seed"] = .int(Int64(seed)) }
        if let maxTokens { object["max_tokens"] = .int(Int64(maxTokens)) }
        return .object(object)
    }
}

extension GenerateResult.Usage {
    public var json: JSONValue { ["input_tokens": .int(Int64(inputTokens)), "output_tokens": .int(Int64(outputTokens))] }
}

extension GenerateResult {
    public init(json: JSONValue) throws(ProtocolFieldError) {
        guard let message = json["message"] else { throw ProtocolFieldError(field: "message", expected: "an object") }
        self.init(message: try ChatMessage(json: message), stopReason: json["stop_reason"]?.stringValue ?? "end_turn",
                  usage: .init(inputTokens: Int(json["usage"]?["input_tokens"]?.intValue ?? 0),
                               outputTokens: Int(json["usage"]?["output_tokens"]?.intValue ?? 0)))
    }

    public var json: JSONValue { ["message": message.json, "stop_reason": .string(stopReason), "usage": usage.json] }
}
