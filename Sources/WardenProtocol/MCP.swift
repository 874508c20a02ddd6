import WardenWire

/// The MCP subset the broker speaks, and Warden's extensions to it.
public enum MCP {
    /// Protocol revisions the broker accepts; the newest is offered when a client asks for
    /// one it does not know.
    public static let supportedVersions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    public static let latestVersion = "2025-11-25"

    public enum Method {
        public static let initialize = "initialize"
        public static let initialized = "notifications/initialized"
        public static let ping = "ping"
        public static let toolsList = "tools/list"
        public static let toolsCall = "tools/call"
        /// Warden: the next assistant turn from the run's model backend.
        public static let generate = "warden/generate"
        /// Warden, broker to agent: an injected operator or peer message.
        public static let message = "warden/message"
        /// Warden, broker to agent: a shutdown notice with its grace period.
        public static let shutdown = "warden/shutdown"
    }

    /// The text result of a tool call, as MCP's `CallToolResult`.
    public static func toolResult(_ text: String, isError: Bool) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "isError": .bool(isError)]
    }

    /// A `done` result that keeps the session open: the operator has a follow-up question,
    /// and `done` must be called again after answering it.
    public static func sessionContinues(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "isError": false, "_meta": ["warden": ["session_continues": true]]]
    }

    public static func continuesSession(_ result: JSONValue) -> Bool {
        result["_meta"]?["warden"]?["session_continues"] == .bool(true)
    }

    /// The concatenated text content of a `CallToolResult`.
    public static func text(ofToolResult result: JSONValue) -> String {
        (result["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
    }
}

/// A tool as `tools/list` describes it.
public struct ToolDescriptor: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var inputSchema: JSONValue
    public var annotations: Annotations?

    public struct Annotations: Codable, Sendable, Equatable {
        public var readOnlyHint: Bool?
        public var destructiveHint: Bool?
        public init(readOnlyHint: Bool? = nil, destructiveHint: Bool? = nil) {
            self.readOnlyHint = readOnlyHint
            self.destructiveHint = destructiveHint
        }
    }

    public init(name: String, description: String, inputSchema: JSONValue, annotations: Annotations? = nil) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.annotations = annotations
    }
}
