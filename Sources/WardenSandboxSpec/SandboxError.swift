import WardenWire

public enum SandboxErrorCode: String, Sendable {
    case policy = "sandbox.policy"
    case seccomp = "sandbox.seccomp"
    case spawn = "sandbox.launch"
    case setup = "sandbox.setup"
}

/// Errors of sandbox policies, the seccomp compiler and the launcher.
public typealias SandboxError = CodedError<SandboxErrorCode>
