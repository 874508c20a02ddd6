import WardenCore

public enum AuditErrorCode: String, Sendable {
    case openFailed = "audit.open_failed"
    case writeFailed = "audit.write_failed"
    case readFailed = "audit.read_failed"
    /// The signing key cannot be made, read or trusted.
    case key = "audit.key"
    /// An inclusion proof is malformed or does not hold.
    case proof = "audit.proof"
    /// The file is not a Warden audit database.
    case notAWardenLog = "audit.not_a_warden_log"
    /// A payload is not what its kind says it is.
    case payload = "audit.payload"
}

/// Errors of the audit log. The message says what to check.
public typealias AuditError = CodedError<AuditErrorCode>
