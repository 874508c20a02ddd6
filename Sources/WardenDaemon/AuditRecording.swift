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

    /// Posts an event that authorises nothing (`post`): it is written with the next commit,
    /// ahead of everything appended after it. A refusal (the run's log already has a gap) is
    /// logged, as with `record`.
    func post(run: String, agent: String = "", kind: String, payload: JSONValue, logger: Logger) {
        do {
            try post(run: run, agent: agent, kind: kind, payload: payload)
        } catch {
            logger.error("audit event lost", metadata: ["kind": "\(kind)", "run": "\(run)", "error": "\(error)"])
        }
    }
}
