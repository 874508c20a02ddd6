import WardenCore

/// Errors of sandbox policies, the seccomp compiler and the launcher.
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case policy = "sandbox.policy"
        case seccomp = "sandbox.seccomp"
        case spawn = "sandbox.spawn"
        case setup = "sandbox.setup"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: ConfigError) {
        self.init(.policy, error.description)
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
