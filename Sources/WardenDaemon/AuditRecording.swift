import Logging
import WardenAudit
import WardenCore

extension AuditLog {
    /// Appends an event where the caller cannot undo what already happened (a run ended, a
    /// client sent garbage): a failure is logged loudly rather than thrown.
    @discardableResult
    func record(run: String, agent: String = "", kind: String, payload: JSONValue, logger: Logger) async -> AuditEvent? {
        do {
            return try await append(run: run, agent: agent, kind: kind, payload: payload)
        } catch {
            logger.error("audit event lost", metadata: ["kind": "\(kind)", "run": "\(run)", "error": "\(error)"])
            return nil
        }
    }
}
