import WardenWire

// Sandboxes and what the syscall supervisor saw in them.

/// What the daemon asked the launcher for, before it starts.
public struct SandboxRequest: AuditPayload {
    public static let kind = AuditKind.sandboxRequest
    public var command: [String]
    public var binds: [String]
    public var writableBinds: [String]
    enum CodingKeys: String, CodingKey {
        case command, binds
        case writableBinds = "writable_binds"
    }
    public init(command: [String], binds: [String], writableBinds: [String]) {
        self.command = command
        self.binds = binds
        self.writableBinds = writableBinds
    }
}

/// The sandbox started, with the layers the launcher reports it applied.
public struct SandboxSpawn: AuditPayload {
    public static let kind = AuditKind.sandboxSpawn
    public var pid: Int32
    public var layers: JSONValue
    public init(pid: Int32, layers: JSONValue) {
        self.pid = pid
        self.layers = layers
    }
}

public struct SandboxFailed: AuditPayload {
    public static let kind = AuditKind.sandboxFailed
    public var error: String
    public init(error: String) { self.error = error }
}

/// One syscall the supervisor saw: its name, the decision, and its decoded arguments (`paths`
/// as the process saw them, `argv`, `times`, `target`, `flags`, …), which vary by syscall and
/// are kept as they were decoded.
public struct SyscallEvent: AuditPayload {
    public static let kind = AuditKind.syscall
    public var pid: Int32
    public var syscall: String
    public var supervised: Bool
    /// `allow`, or `deny ERRNO`.
    public var decision: String
    /// For symlinks and renames in the world: whether it plants a way out (`EscapePaths`).
    public var resolution: Resolution?
    /// Every other decoded argument.
    public var details: [String: JSONValue]

    public struct Resolution: Codable, Sendable, Equatable {
        public var leavesWorld: Bool
        public var reason: String
        enum CodingKeys: String, CodingKey {
            case reason
            case leavesWorld = "leaves_world"
        }
        public init(leavesWorld: Bool, reason: String) {
            self.leavesWorld = leavesWorld
            self.reason = reason
        }
    }

    public init(pid: Int32, syscall: String, supervised: Bool, decision: String, resolution: Resolution?, details: [String: JSONValue]) {
        self.pid = pid
        self.syscall = syscall
        self.supervised = supervised
        self.decision = decision
        self.resolution = resolution
        self.details = details
    }

    public var paths: [String?] { (details["paths"]?.arrayValue ?? []).map(\.stringValue) }
    public var argv: [String] { (details["argv"]?.arrayValue ?? []).compactMap(\.stringValue) }
    public var target: String? { details["target"]?.stringValue }
    public var allowed: Bool { decision == "allow" }

    static let fixed: Set<String> = ["pid", "syscall", "supervised", "decision", "resolution"]

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        pid = try container.decode(Int32.self, forKey: Key("pid"))
        syscall = try container.decode(String.self, forKey: Key("syscall"))
        supervised = try container.decodeIfPresent(Bool.self, forKey: Key("supervised")) ?? true
        decision = try container.decode(String.self, forKey: Key("decision"))
        resolution = try container.decodeIfPresent(Resolution.self, forKey: Key("resolution"))
        var details: [String: JSONValue] = [:]
        for key in container.allKeys where !Self.fixed.contains(key.stringValue) {
            details[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        self.details = details
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in details where !Self.fixed.contains(name) { try container.encode(value, forKey: Key(name)) }
        try container.encode(pid, forKey: Key("pid"))
        try container.encode(syscall, forKey: Key("syscall"))
        try container.encode(supervised, forKey: Key("supervised"))
        try container.encode(decision, forKey: Key("decision"))
        try container.encodeIfPresent(resolution, forKey: Key("resolution"))
    }
}

/// Supervised syscalls a sandbox made past its budget, counted (at most one a second while a
/// flood lasts), or — with `final` — the close of the sandbox's supervision.
public struct SyscallSummary: AuditPayload {
    public static let kind = AuditKind.syscallSummary
    public var final: Bool?
    public var notifications: Int?
    public var recorded: Int?
    public var unrecordedDenials: [String: Int]?
    public var syncWakeUp: Bool?
    /// Per syscall and decision, how many were counted rather than recorded one by one.
    public var summarised: [String: [String: Int]]?
    public var summarisedTotal: Int?
    /// How many of them planted a way out of the world.
    public var escapeAttempts: Int?
    enum CodingKeys: String, CodingKey {
        case final, notifications, recorded, summarised
        case unrecordedDenials = "unrecorded_denials"
        case syncWakeUp = "sync_wake_up"
        case summarisedTotal = "summarised_total"
        case escapeAttempts = "escape_attempts"
    }
    public init(final: Bool?, notifications: Int? = nil, recorded: Int? = nil, unrecordedDenials: [String: Int]? = nil, syncWakeUp: Bool? = nil,
                summarised: [String: [String: Int]]? = nil, summarisedTotal: Int? = nil, escapeAttempts: Int? = nil) {
        self.final = final
        self.notifications = notifications
        self.recorded = recorded
        self.unrecordedDenials = unrecordedDenials
        self.syncWakeUp = syncWakeUp
        self.summarised = summarised
        self.summarisedTotal = summarisedTotal
        self.escapeAttempts = escapeAttempts
    }
}
