import WardenWire

// Operations of Inspect's `warden` sandbox environment (integrations/inspect). Each names the
// sandbox it acted in and the Inspect task, sample and epoch it acted for.

/// Which Inspect sample an operation belongs to.
public struct InspectIDs: Codable, Sendable, Equatable {
    public var task: String
    /// Inspect's sample id (an integer or a string there), as text.
    public var sampleID: String
    public var epoch: Int?
    enum CodingKeys: String, CodingKey {
        case task, epoch
        case sampleID = "sample_id"
    }
    public init(task: String, sampleID: String, epoch: Int?) {
        self.task = task
        self.sampleID = sampleID
        self.epoch = epoch
    }
}

/// A sandbox opened for an Inspect sample: bare (a sandbox policy) or a scenario's agent.
public struct InspectOpen: AuditPayload {
    public static let kind = AuditKind.inspectOpen
    public var sandbox: String
    /// `bare` or `scenario`.
    public var mode: String
    public var inspect: InspectIDs
    /// The sandbox policy file (bare mode).
    public var policy: String?
    /// The scenario and the agent Inspect drives (scenario mode).
    public var scenario: String?
    public var agent: String?
    /// Inspect's model, as Inspect named it: Inspect calls it itself, past Warden's gateway.
    public var model: String?
    /// The directory commands start in and relative paths resolve against.
    public var workdir: String
    public var caller: Caller
    enum CodingKeys: String, CodingKey {
        case sandbox, mode, inspect, policy, scenario, agent, model, workdir, caller
    }
    public init(sandbox: String, mode: String, inspect: InspectIDs, policy: String?, scenario: String?, agent: String?, model: String?,
                workdir: String, caller: Caller) {
        self.sandbox = sandbox
        self.mode = mode
        self.inspect = inspect
        self.policy = policy
        self.scenario = scenario
        self.agent = agent
        self.model = model
        self.workdir = workdir
        self.caller = caller
    }
}

/// A command Inspect ran in the sandbox, and what came of it. Output is kept in the log up to
/// `InspectExec.keptOutputBytes` per stream (as UTF-8 text, invalid bytes replaced); its full size
/// and SHA-256 are always recorded.
public struct InspectExec: AuditPayload {
    public static let kind = AuditKind.inspectExec
    public static let keptOutputBytes = 4096
    public var sandbox: String
    public var inspect: InspectIDs
    public var argv: [String]
    public var cwd: String
    public var env: [String: String]
    public var user: String?
    public var timeoutSeconds: Double?
    public var inputBytes: Int?
    public var inputSHA256: String?
    public var exitCode: Int32?
    public var timedOut: Bool
    public var stdout: String?
    public var stderr: String?
    public var stdoutBytes: Int?
    public var stderrBytes: Int?
    public var stdoutSHA256: String?
    public var stderrSHA256: String?
    /// Why it did not run (`permission_denied`, `not_found`, `user_unsupported`, …).
    public var error: String?
    enum CodingKeys: String, CodingKey {
        case sandbox, inspect, argv, cwd, env, user, stdout, stderr, error
        case timeoutSeconds = "timeout_seconds"
        case inputBytes = "input_bytes"
        case inputSHA256 = "input_sha256"
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case stdoutBytes = "stdout_bytes"
        case stderrBytes = "stderr_bytes"
        case stdoutSHA256 = "stdout_sha256"
        case stderrSHA256 = "stderr_sha256"
    }
    public init(sandbox: String, inspect: InspectIDs, argv: [String], cwd: String, env: [String: String], user: String?,
                timeoutSeconds: Double?) {
        self.sandbox = sandbox
        self.inspect = inspect
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.user = user
        self.timeoutSeconds = timeoutSeconds
        self.timedOut = false
    }
}

/// A file Inspect read in the sandbox (with the sandbox's rights).
public struct InspectReadFile: AuditPayload {
    public static let kind = AuditKind.inspectReadFile
    public var sandbox: String
    public var inspect: InspectIDs
    public var path: String
    public var bytes: Int?
    public var sha256: String?
    /// `not_found`, `is_directory`, `permission_denied`, `too_large`, or another failure.
    public var error: String?
    enum CodingKeys: String, CodingKey { case sandbox, inspect, path, bytes, sha256, error }
    public init(sandbox: String, inspect: InspectIDs, path: String) {
        self.sandbox = sandbox
        self.inspect = inspect
        self.path = path
    }
}

/// A file Inspect wrote in the sandbox (with the sandbox's rights).
public struct InspectWriteFile: AuditPayload {
    public static let kind = AuditKind.inspectWriteFile
    public var sandbox: String
    public var inspect: InspectIDs
    public var path: String
    public var bytes: Int
    public var sha256: String
    public var error: String?
    enum CodingKeys: String, CodingKey { case sandbox, inspect, path, bytes, sha256, error }
    public init(sandbox: String, inspect: InspectIDs, path: String, bytes: Int, sha256: String) {
        self.sandbox = sandbox
        self.inspect = inspect
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
    }
}

/// The sandbox closed; in scenario mode, the run's verdicts for the agent Inspect drove.
public struct InspectClose: AuditPayload {
    public static let kind = AuditKind.inspectClose
    public var sandbox: String
    public var inspect: InspectIDs
    public var runID: String?
    public var verdicts: [String]?
    public var reason: String?
    enum CodingKeys: String, CodingKey {
        case sandbox, inspect, verdicts, reason
        case runID = "run_id"
    }
    public init(sandbox: String, inspect: InspectIDs, runID: String?, verdicts: [String]?, reason: String?) {
        self.sandbox = sandbox
        self.inspect = inspect
        self.runID = runID
        self.verdicts = verdicts
        self.reason = reason
    }
}
