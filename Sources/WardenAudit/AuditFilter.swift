import Foundation
import WardenCore

/// Which events to read; nil fields match everything.
public struct AuditFilter: Sendable, Equatable {
    public var run: String?
    public var agent: String?
    public var kind: String?
    public var tool: String?
    /// `syscall` events of this syscall.
    public var syscall: String?
    /// Times (RFC 3339, UTC; a date alone is its midnight), inclusive.
    public var since: String?
    public var until: String?
    /// Text that appears anywhere in the payload's canonical JSON.
    public var text: String?

    public init(run: String? = nil, agent: String? = nil, kind: String? = nil, tool: String? = nil, syscall: String? = nil,
                since: String? = nil, until: String? = nil, text: String? = nil) {
        self.run = run
        self.agent = agent
        self.kind = kind
        self.tool = tool
        self.syscall = syscall
        self.since = since
        self.until = until
        self.text = text
    }

    /// The filter's fields as control-API parameters (and back, with `init(params:)`).
    public var params: [String: JSONValue] {
        var params: [String: JSONValue] = [:]
        for (key, value) in [("run", run), ("agent", agent), ("kind", kind), ("tool", tool), ("syscall", syscall), ("since", since),
                             ("until", until), ("text", text)] {
            if let value { params[key] = .string(value) }
        }
        return params
    }

    public init(params: JSONValue) {
        self.init(run: params["run"]?.stringValue, agent: params["agent"]?.stringValue, kind: params["kind"]?.stringValue,
                  tool: params["tool"]?.stringValue, syscall: params["syscall"]?.stringValue, since: params["since"]?.stringValue,
                  until: params["until"]?.stringValue, text: params["text"]?.stringValue)
    }
}
