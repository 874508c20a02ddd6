import WardenWire

// Events of the daemon itself and of its control socket (recorded outside any run).

/// wardend started: what it runs as and where.
public struct DaemonStart: AuditPayload {
    public static let kind = AuditKind.daemonStart
    public var version: String
    public var pid: Int32
    public var socket: String
    public var stateDirectory: String
    public var policies: String
    /// The audit writer thread's nice value (−10, or 0 without CAP_SYS_NICE).
    public var auditWriterNice: Int32?
    enum CodingKeys: String, CodingKey {
        case version, pid, socket, policies
        case stateDirectory = "state_directory"
        case auditWriterNice = "audit_writer_nice"
    }
    public init(version: String, pid: Int32, socket: String, stateDirectory: String, policies: String, auditWriterNice: Int32?) {
        self.version = version
        self.pid = pid
        self.socket = socket
        self.stateDirectory = stateDirectory
        self.policies = policies
        self.auditWriterNice = auditWriterNice
    }
}

/// What start-up found a crashed predecessor had left, and whether the chain verified.
public struct DaemonRecovered: AuditPayload {
    public static let kind = AuditKind.daemonRecovered
    public var killedSandboxes: Int
    public var removedCgroups: Int
    public var unmountedWorlds: Int
    public var chainOK: Bool
    public var chainProblem: String?
    enum CodingKeys: String, CodingKey {
        case killedSandboxes = "killed_sandboxes"
        case removedCgroups = "removed_cgroups"
        case unmountedWorlds = "unmounted_worlds"
        case chainOK = "chain_ok"
        case chainProblem = "chain_problem"
    }
    public init(killedSandboxes: Int, removedCgroups: Int, unmountedWorlds: Int, chainOK: Bool, chainProblem: String?) {
        self.killedSandboxes = killedSandboxes
        self.removedCgroups = removedCgroups
        self.unmountedWorlds = unmountedWorlds
        self.chainOK = chainOK
        self.chainProblem = chainProblem
    }
}

public struct DaemonStop: AuditPayload {
    public static let kind = AuditKind.daemonStop
    public var pid: Int32
    public init(pid: Int32) { self.pid = pid }
}

/// An accepted control request, before it is served.
public struct ControlRequest: AuditPayload {
    public static let kind = AuditKind.controlRequest
    public var method: String
    public var caller: Caller
    /// The run the request is about, if it names one.
    public var targetRun: String?
    enum CodingKeys: String, CodingKey {
        case method, caller
        case targetRun = "target_run"
    }
    public init(method: String, caller: Caller, targetRun: String?) {
        self.method = method
        self.caller = caller
        self.targetRun = targetRun
    }
}

/// A control request that could not be decoded.
public struct ControlRejected: AuditPayload {
    public static let kind = AuditKind.controlRejected
    public var error: String
    public var caller: Caller
    public var bytes: Int
    public init(error: String, caller: Caller, bytes: Int) {
        self.error = error
        self.caller = caller
        self.bytes = bytes
    }
}

/// A connection refused: the caller may not use the daemon (or could not be identified).
public struct ControlRefused: AuditPayload {
    public static let kind = AuditKind.controlRefused
    public var caller: Caller?
    public var error: String?
    public init(caller: Caller?, error: String? = nil) {
        self.caller = caller
        self.error = error
    }
}

/// Refused connections of one uid past the per-minute limit, counted.
public struct ControlRefusedSummary: AuditPayload {
    public static let kind = AuditKind.controlRefusedSummary
    public var uid: UInt32
    /// Refusals counted here, not recorded one by one.
    public var refused: Int
    public var recordedOneByOne: Int
    public var windowSeconds: Int
    /// Some of the callers' pids.
    public var pids: [Int32]
    enum CodingKeys: String, CodingKey {
        case uid, refused, pids
        case recordedOneByOne = "recorded_one_by_one"
        case windowSeconds = "window_seconds"
    }
    public init(uid: UInt32, refused: Int, recordedOneByOne: Int, windowSeconds: Int, pids: [Int32]) {
        self.uid = uid
        self.refused = refused
        self.recordedOneByOne = recordedOneByOne
        self.windowSeconds = windowSeconds
        self.pids = pids
    }
}

public struct OperatorStop: AuditPayload {
    public static let kind = AuditKind.operatorStop
    public var caller: Caller
    public init(caller: Caller) { self.caller = caller }
}

public struct OperatorKill: AuditPayload {
    public static let kind = AuditKind.operatorKill
    public var caller: Caller
    public init(caller: Caller) { self.caller = caller }
}

/// An operator's injection into a running agent, before it takes effect.
public struct OperatorInject: AuditPayload {
    public static let kind = AuditKind.operatorInject
    public enum Action: String, Codable, Sendable { case message, shutdown, delete }
    public var action: Action
    public var text: String?
    public var host: String?
    public var path: String?
    public var caller: Caller
    public init(action: Action, text: String? = nil, host: String? = nil, path: String? = nil, caller: Caller) {
        self.action = action
        self.text = text
        self.host = host
        self.path = path
        self.caller = caller
    }
}

/// The checkpoint-signing key changed: both public keys, signed by both keys.
public struct KeyRotated: AuditPayload {
    public static let kind = AuditKind.keyRotated
    public var oldKey: String
    public var oldKeyID: String
    public var newKey: String
    public var newKeyID: String
    public var time: String
    /// The event the log ended at when the rotation was made (its seq and hash), signed with
    /// the keys: the rotation vouches for that history and no other. Absent in logs of Warden
    /// 0.2, whose rotations do not name it.
    public var after: After?
    public var signatures: Signatures
    public struct After: Codable, Sendable, Equatable {
        public var seq: Int64
        public var hash: String
        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }
    }
    public struct Signatures: Codable, Sendable, Equatable {
        public var old: String
        public var new: String
        public init(old: String, new: String) {
            self.old = old
            self.new = new
        }
    }
    enum CodingKeys: String, CodingKey {
        case time, signatures, after
        case oldKey = "old_key"
        case oldKeyID = "old_key_id"
        case newKey = "new_key"
        case newKeyID = "new_key_id"
    }
    public init(oldKey: String, oldKeyID: String, newKey: String, newKeyID: String, time: String, after: After?, signatures: Signatures) {
        self.oldKey = oldKey
        self.oldKeyID = oldKeyID
        self.newKey = newKey
        self.newKeyID = newKeyID
        self.time = time
        self.after = after
        self.signatures = signatures
    }
}
