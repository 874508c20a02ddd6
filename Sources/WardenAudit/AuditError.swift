import WardenCore

public enum AuditErrorCode: String, Sendable {
    case openFailed = "audit.open_failed"
    case writeFailed = "audit.write_failed"
    case readFailed = "audit.read_failed"
}

/// Errors of the audit log. The message says what to check.
public typealias AuditError = CodedError<AuditErrorCode>
