import Glibc
import Logging
import WardenAudit
import WardenCore
import WardenSandbox
import WardenScenario

/// Connects one sandbox's seccomp listener to the audit log: every syscall the supervisor
/// records becomes a durable `syscall` event before the supervisor answers it, and a
/// `syscall.summary` closes the sandbox's supervision.
struct SupervisorAudit: Sendable {
    let audit: AuditLog
    let runID: String
    let agentID: String
    let table: SupervisionTable?
    /// Judges symlinks and renames in the world (`resolution` in their records).
    let escapes: EscapePaths
    let logger: Logger

    func start(listener: Int32) {
        guard let table else {
            close(listener)
            return
        }
        let (audit, runID, agentID, logger, escapes) = (audit, runID, agentID, logger, escapes)
        SyscallSupervisor.start(
            listener: listener, table: table,
            record: { record in
                var record = record
                if let judgement = Self.judge(record, escapes: escapes) {
                    record.details["resolution"] = ["leaves_world": .bool(judgement.leavesWorld), "reason": .string(judgement.reason)]
                }
                let payload = record.json
                do {
                    try audit.appendNow(run: runID, agent: agentID, kind: "syscall", payload: payload)
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

    /// The escape judgement of a symlink or rename record, if it touches the world.
    static func judge(_ record: SyscallRecord, escapes: EscapePaths) -> EscapePaths.Judgement? {
        let paths = (record.details["paths"]?.arrayValue ?? []).map { $0.stringValue }
        switch record.syscall {
        case "symlink", "symlinkat":
            guard let target = record.details["target"]?.stringValue, let link = paths.first ?? nil else { return nil }
            return escapes.symlink(target: target, at: link)
        case "rename", "renameat", "renameat2":
            guard paths.count == 2, let from = paths[0], let to = paths[1] else { return nil }
            let flags = record.details["flags"]?.stringValue.flatMap { UInt64($0.dropFirst(2), radix: 16) } ?? 0
            let pid = record.pid
            return escapes.rename(from: from, to: to, exchange: flags & 2 != 0) { path in
                var info = stat()
                return lstat("/proc/\(pid)/root" + path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
            }
        default:
            return nil
        }
    }
}
