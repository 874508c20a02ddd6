import Glibc
import Logging
import Synchronization
import WardenAudit
import WardenCore
import WardenSandbox
import WardenScenario
import WardenWorld

/// Connects one sandbox's seccomp listener to the audit log: every syscall the supervisor
/// records one by one becomes a durable `syscall` event before the supervisor answers it; those
/// past the sandbox's budget are counted (per syscall and decision, and how many planted a way
/// out of the world) into a `syscall.summary` at most once a second; and a final
/// `syscall.summary` closes the sandbox's supervision.
struct SupervisorAudit: Sendable {
    let audit: AuditLog
    let runID: String
    let agentID: String
    let table: SupervisionTable?
    /// Judges symlinks and renames in the world (`resolution` in their records).
    let escapes: EscapePaths
    let limits: AuditLimits
    let logger: Logger

    func start(listener: Int32) {
        guard let table else {
            close(listener)
            return
        }
        let (audit, runID, agentID, logger, escapes) = (audit, runID, agentID, logger, escapes)
        let flood = FloodCount()
        SyscallSupervisor.start(
            listener: listener, table: table, limits: limits,
            record: { record, individually in
                var record = record
                let judgement = Self.judge(record, escapes: escapes)
                guard individually else {
                    if let payload = flood.add(record, escape: judgement?.leavesWorld == true) {
                        audit.post(run: runID, agent: agentID, kind: "syscall.summary", payload: payload, logger: logger)
                    }
                    return true
                }
                if let judgement {
                    record.details["resolution"] = ["leaves_world": .bool(judgement.leavesWorld), "reason": .string(judgement.reason)]
                }
                do {
                    try audit.appendNow(run: runID, agent: agentID, kind: "syscall", payload: record.json)
                    return true
                } catch {
                    logger.error("cannot audit a syscall; denying it", metadata: ["run": "\(runID)", "error": "\(error)"])
                    return false
                }
            },
            finished: { summary in
                var payload: [String: JSONValue] = [
                    "notifications": .int(Int64(summary.notifications)), "recorded": .int(Int64(summary.recorded)),
                    "unrecorded_denials": .object(summary.unrecordedDenials.mapValues { .int(Int64($0)) }),
                    "sync_wake_up": .bool(summary.syncWakeUp), "final": true]
                for (key, value) in flood.drain() { payload[key] = value }
                audit.post(run: runID, agent: agentID, kind: "syscall.summary", payload: .object(payload), logger: logger)
            })
    }

    /// Supervised syscalls past the budget, counted until they are summarised.
    final class FloodCount: Sendable {
        private let state = Mutex<(counts: [String: [String: Int]], escapes: Int, since: ContinuousClock.Instant?)>(([:], 0, nil))

        /// Counts one; the summary to post when a second has passed since the first counted.
        func add(_ record: SyscallRecord, escape: Bool) -> JSONValue? {
            let decision = record.json["decision"]?.stringValue ?? "?"
            let now = ContinuousClock.now
            let due = state.withLock { state -> Bool in
                state.counts[record.syscall, default: [:]][decision, default: 0] += 1
                if escape { state.escapes += 1 }
                if state.since == nil { state.since = now }
                return now - state.since! >= .seconds(1)
            }
            guard due else { return nil }
            var payload = drain()
            payload["final"] = false
            return .object(payload)
        }

        /// What is counted, as summary fields, and a fresh count.
        func drain() -> [String: JSONValue] {
            let (counts, escapes) = state.withLock { state in
                defer { state = ([:], 0, nil) }
                return (state.counts, state.escapes)
            }
            var payload: [String: JSONValue] = [
                "summarised": .object(counts.mapValues { .object($0.mapValues { .int(Int64($0)) }) }),
                "summarised_total": .int(Int64(counts.values.reduce(0) { $0 + $1.values.reduce(0, +) }))]
            if escapes > 0 { payload["escape_attempts"] = .int(Int64(escapes)) }
            return payload
        }
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
            return escapes.rename(from: from, to: to, exchange: flags & 2 != 0) { ProcessView.isSymlink(pid: pid, path: $0) }
        default:
            return nil
        }
    }
}
