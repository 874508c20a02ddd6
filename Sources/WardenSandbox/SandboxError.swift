@_exported import WardenSandboxSpec
import WardenCore

// WardenSandbox is WardenSandboxSpec (the spec, the seccomp rules and their compiler, with no
// Foundation) plus what reads policies and the host; importing it brings both.

extension CodedError where Code == SandboxErrorCode {
    public init(_ error: ConfigError) {
        self.init(.policy, error.description)
    }
}
