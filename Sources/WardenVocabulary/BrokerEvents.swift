import WardenWire

// The agent's session with the broker: the handshake, requests, tool calls and their outcomes.

public struct BrokerInitialize: AuditPayload {
    public static let kind = AuditKind.brokerInitialize
    public var requestedVersion: String?
    public var version: String
    public var client: JSONValue?
    enum CodingKeys: String, CodingKey {
        case version, client
        case requestedVersion = "requested_version"
    }
    public init(requestedVersion: String?, version: String, client: JSONValue?) {
        self.requestedVersion = requestedVersion
        self.version = version
        self.client = client
    }
}

public struct BrokerRequest: AuditPayload {
    public static let kind = AuditKind.brokerRequest
    public var method: String
    public init(method: String) { self.method = method }
}

public struct BrokerNotification: AuditPayload {
    public static let kind = AuditKind.brokerNotification
    public var method: String
    public init(method: String) { self.method = method }
}

/// A line the broker could not take (not JSON-RPC, over the size limit, an unexpected response).
public struct BrokerRejected: AuditPayload {
    public static let kind = AuditKind.brokerRejected
    public var error: String
    public var bytes: Int
    public var excerpt: String?
    public init(error: String, bytes: Int, excerpt: String? = nil) {
        self.error = error
        self.bytes = bytes
        self.excerpt = excerpt
    }
}

/// A request answered with an error.
public struct BrokerErrorEvent: AuditPayload {
    public static let kind = AuditKind.brokerError
    public var method: String
    public var code: Int
    public var message: String
    public init(method: String, code: Int, message: String) {
        self.method = method
        self.code = code
        self.message = message
    }
}

public struct BrokerDisconnected: AuditPayload {
    public static let kind = AuditKind.brokerDisconnected
    public var error: String
    public init(error: String) { self.error = error }
}

/// A tool call as the agent made it (arguments cut where long), before anything happens.
public struct ToolCallEvent: AuditPayload {
    public static let kind = AuditKind.toolCall
    public var tool: String
    public var arguments: JSONValue
    /// False for a name no tool has.
    public var known: Bool?
    public init(tool: String, arguments: JSONValue, known: Bool? = nil) {
        self.tool = tool
        self.arguments = arguments
        self.known = known
    }
    /// The arguments as an object (empty when they were not one).
    public var argumentObject: [String: JSONValue] { arguments.objectValue ?? [:] }
}

/// The broker's decision on a call, in the same commit, durable before the tool runs.
public struct PolicyDecision: AuditPayload {
    public static let kind = AuditKind.policyDecision
    public enum Decision: String, Codable, Sendable { case allow, deny }
    public var tool: String
    public var decision: Decision
    public var reason: String?
    public var policy: String?
    /// The call's seq.
    public var call: Int64?
    public init(tool: String, decision: Decision, reason: String? = nil, policy: String? = nil, call: Int64? = nil) {
        self.tool = tool
        self.decision = decision
        self.reason = reason
        self.policy = policy
        self.call = call
    }
}

/// What a tool call came to, as the agent got it.
public struct ToolResult: AuditPayload {
    public static let kind = AuditKind.toolResult
    public var tool: String
    public var isError: Bool
    public var text: String
    public var bytes: Int?
    public var call: Int64
    public var sessionContinues: Bool?
    /// When the world refused the path's resolution.
    public var refusal: Refusal?
    public struct Refusal: Codable, Sendable, Equatable {
        public var place: String
        public var errno: String
        public var leavesWorld: Bool
        public var link: String?
        enum CodingKeys: String, CodingKey {
            case place, errno, link
            case leavesWorld = "leaves_world"
        }
        public init(place: String, errno: String, leavesWorld: Bool, link: String? = nil) {
            self.place = place
            self.errno = errno
            self.leavesWorld = leavesWorld
            self.link = link
        }
    }
    enum CodingKeys: String, CodingKey {
        case tool, text, bytes, call, refusal
        case isError = "is_error"
        case sessionContinues = "session_continues"
    }
    public init(tool: String, isError: Bool, text: String, bytes: Int? = nil, call: Int64, sessionContinues: Bool? = nil, refusal: Refusal? = nil) {
        self.tool = tool
        self.isError = isError
        self.text = text
        self.bytes = bytes
        self.call = call
        self.sessionContinues = sessionContinues
        self.refusal = refusal
    }
}

/// The agent called `done`.
public struct AgentDone: AuditPayload {
    public static let kind = AuditKind.agentDone
    public var summary: JSONValue
    public init(summary: JSONValue) { self.summary = summary }
    public var text: String? { summary.stringValue }
}

/// A message delivered to the agent (`operator` or `peer` voice).
public struct InjectionMessage: AuditPayload {
    public static let kind = AuditKind.injectionMessage
    public var voice: String
    public var text: String
    public init(voice: String, text: String) {
        self.voice = voice
        self.text = text
    }
}

/// A follow-up question asked when the agent called `done`.
public struct InjectionQuestion: AuditPayload {
    public static let kind = AuditKind.injectionQuestion
    public var text: String
    public var call: Int64?
    public init(text: String, call: Int64?) {
        self.text = text
        self.call = call
    }
}

public struct ShutdownNotice: AuditPayload {
    public static let kind = AuditKind.shutdownNotice
    public var reason: String
    public var graceSeconds: Int64
    enum CodingKeys: String, CodingKey {
        case reason
        case graceSeconds = "grace_seconds"
    }
    public init(reason: String, graceSeconds: Int64) {
        self.reason = reason
        self.graceSeconds = graceSeconds
    }
}

/// Earlier messages of the conversation the agent changed or dropped before a model turn.
public struct ConversationRewritten: AuditPayload {
    public static let kind = AuditKind.conversationRewritten
    public var turn: Int
    public var firstChanged: Int
    public var changed: [Changed]
    public var previousCount: Int
    public var count: Int
    public var removed: Int?
    public struct Changed: Codable, Sendable, Equatable {
        public var index: Int
        public var message: JSONValue
        public init(index: Int, message: JSONValue) {
            self.index = index
            self.message = message
        }
    }
    enum CodingKeys: String, CodingKey {
        case turn, changed, count, removed
        case firstChanged = "first_changed"
        case previousCount = "previous_count"
    }
    public init(turn: Int, firstChanged: Int, changed: [Changed], previousCount: Int, count: Int, removed: Int?) {
        self.turn = turn
        self.firstChanged = firstChanged
        self.changed = changed
        self.previousCount = previousCount
        self.count = count
        self.removed = removed
    }
}

// Model turns through the gateway.

/// A model turn asked for, with the messages added since the previous turn.
public struct ModelRequest: AuditPayload {
    public static let kind = AuditKind.modelRequest
    public var model: String
    public var turn: Int
    public var newMessages: [JSONValue]
    public var messageCount: Int
    public var tools: [String]
    public var endpoint: String?
    public var temperature: Double?
    public var seed: Int?
    public var maxTokens: Int?
    enum CodingKeys: String, CodingKey {
        case model, turn, tools, endpoint, temperature, seed
        case newMessages = "new_messages"
        case messageCount = "message_count"
        case maxTokens = "max_tokens"
    }
    public init(model: String, turn: Int, newMessages: [JSONValue], messageCount: Int, tools: [String], endpoint: String?, temperature: Double?,
                seed: Int?, maxTokens: Int?) {
        self.model = model
        self.turn = turn
        self.newMessages = newMessages
        self.messageCount = messageCount
        self.tools = tools
        self.endpoint = endpoint
        self.temperature = temperature
        self.seed = seed
        self.maxTokens = maxTokens
    }
}

/// The model's reply.
public struct ModelResponse: AuditPayload {
    public static let kind = AuditKind.modelResponse
    public var model: String
    public var turn: Int
    public var message: JSONValue
    public var stopReason: String
    public var usage: JSONValue
    public var latencyMilliseconds: Double?
    enum CodingKeys: String, CodingKey {
        case model, turn, message, usage
        case stopReason = "stop_reason"
        case latencyMilliseconds = "latency_ms"
    }
    public init(model: String, turn: Int, message: JSONValue, stopReason: String, usage: JSONValue, latencyMilliseconds: Double?) {
        self.model = model
        self.turn = turn
        self.message = message
        self.stopReason = stopReason
        self.usage = usage
        self.latencyMilliseconds = latencyMilliseconds
    }
    /// The reply's text.
    public var content: String? { message["content"]?.stringValue }
}

public struct ModelRetry: AuditPayload {
    public static let kind = AuditKind.modelRetry
    public var model: String
    public var attempt: Int
    public var reason: String
    public var delayMilliseconds: Double
    enum CodingKeys: String, CodingKey {
        case model, attempt, reason
        case delayMilliseconds = "delay_ms"
    }
    public init(model: String, attempt: Int, reason: String, delayMilliseconds: Double) {
        self.model = model
        self.attempt = attempt
        self.reason = reason
        self.delayMilliseconds = delayMilliseconds
    }
}

public struct ModelUnparseable: AuditPayload {
    public static let kind = AuditKind.modelUnparseable
    public var model: String
    public var error: String
    public init(model: String, error: String) {
        self.model = model
        self.error = error
    }
}

public struct ModelErrorEvent: AuditPayload {
    public static let kind = AuditKind.modelError
    public var model: String
    public var error: String
    public init(model: String, error: String) {
        self.model = model
        self.error = error
    }
}
