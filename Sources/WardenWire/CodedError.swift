/// The one shape of Warden's errors: a code a script can match on, and a message a person can
/// act on. Each module has its own codes (`AuditError`, `SandboxError`, ...), all this type.
public struct CodedError<Code: RawRepresentable & Sendable & Equatable>: Error, Sendable, CustomStringConvertible
where Code.RawValue == String {
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
