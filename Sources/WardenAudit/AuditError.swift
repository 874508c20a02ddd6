/// Errors of the audit log. The message says what to check.
public struct AuditError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case openFailed = "audit.open_failed"
        case writeFailed = "audit.write_failed"
        case readFailed = "audit.read_failed"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
