import WardenWire

/// A message of a model conversation in a provider-neutral form (the shape of the OpenAI
/// Chat Completions messages, with tool-call arguments kept as JSON rather than a string).
public struct ChatMessage: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case system, user, assistant, tool }

    public var role: Role
    public var content: String
    public var toolCalls: [ToolCall]?
    public var toolCallID: String?

    enum CodingKeys: String, CodingKey {
        case role, content
        case toolCalls = "tool_calls"
        case toolCallID = "tool_call_id"
    }

    public init(role: Role, content: String, toolCalls: [ToolCall]? = nil, toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

public struct ToolCall: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: JSONValue

    public init(id: String, name: String, arguments: JSONValue) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// Parameters of `warden/generate`.
public struct GenerateRequest: Codable, Sendable, Equatable {
    public var messages: [ChatMessage]
    public var tools: [ToolDescriptor]
    public var temperature: Double?
    public var seed: Int?
    /// The most tokens the reply may have.
    public var maxTokens: Int?

    enum CodingKeys: String, CodingKey {
        case messages, tools, temperature, seed
        case maxTokens = "max_tokens"
    }

    public init(messages: [ChatMessage], tools: [ToolDescriptor], temperature: Double? = nil, seed: Int? = nil,
                maxTokens: Int? = nil) {
        self.messages = messages
        self.tools = tools
        self.temperature = temperature
        self.seed = seed
        self.maxTokens = maxTokens
    }
}

/// Result of `warden/generate`: the assistant's turn.
public struct GenerateResult: Codable, Sendable, Equatable {
    public var message: ChatMessage
    /// `tool_calls`, `end_turn` or `max_tokens`.
    public var stopReason: String
    public var usage: Usage

    public struct Usage: Codable, Sendable, Equatable {
        public var inputTokens: Int
        public var outputTokens: Int
        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
        }
        public init(inputTokens: Int, outputTokens: Int) {
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
        }
    }

    enum CodingKeys: String, CodingKey {
        case message
        case stopReason = "stop_reason"
        case usage
    }

    public init(message: ChatMessage, stopReason: String, usage: Usage) {
        self.message = message
        self.stopReason = stopReason
        self.usage = usage
    }
}
