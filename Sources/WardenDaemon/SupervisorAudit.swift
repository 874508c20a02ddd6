import Glibc
import Logging
import WardenAudit
import WardenCore
import WardenSandbox

/// Connects one sandbox's seccomp listener to the audit log: every syscall the supervisor
/// records becomes a durable `syscall` event before the supervisor answers it, and a
/// `syscall.summary` closes the sandbox's supervision.
struct SupervisorAudit: Sendable {
    let audit: AuditLog
    let runID: String
    let agentID: String
    let table: SupervisionTable?
    let logger: Logger

    func start(listener: Int32) {
        guard let table else {
            close(listener)
            return
        }
        let (audit, runID, agentID, logger) = (audit, runID, agentID, logger)
        SyscallSupervisor.start(
            listener: listener, table: table,
            record: { record in
                do {
                    try audit.appendNow(run: runID, agent: agentID, kind: "syscall", payload: record.json)
                    return true
                } catch {
                    logger.error("cannot audit a syscall; denying it", metadata: ["run": "\(runID)", "error": "\(error)"])
                    return false
                }
            },
            finished: { summary in
                audit.post(run: runID, agent: agentID, kind: "syscall.summary", payload: [
                    "notifications": .int(Int64(summary.notifications)), "recorded": .int(Int64(summary.recorded)),
                    "unrecorded_denials": .object(summary.unrecordedDenials.mapValues { .int(Int64($0)) }),
                    "sync_wake_up": .bool(summary.syncWakeUp)], logger: logger)
            })
    }
}
