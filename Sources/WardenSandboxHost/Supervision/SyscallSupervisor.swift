import CWardenLinux
import Foundation
import Glibc
import WardenCore
import WardenSandbox

/// One syscall the supervisor saw, for the audit log.
public struct SyscallRecord: Sendable {
    public var pid: Int32
    public var syscall: String
    /// A world-changing syscall of the policy's `supervise` list, rather than a denial.
    public var supervised: Bool
    public var decision: SupervisorDecision
    /// Decoded arguments: resolved `paths`, `times`, `argv`, signal targets, …
    public var details: [String: JSONValue]

    /// `allow`, or `deny ERRNO`, as the audit log spells it.
    public var decisionText: String {
        switch decision {
        case .allow: "allow"
        case .deny(let e): "deny \(SeccompAction.errnoName(e))"
        }
    }
}

/// The daemon's side of one sandbox's seccomp listener. A dedicated thread receives every
/// notification, decodes its arguments from a copy of the process's memory, checks that the
/// notification is still pending (SECCOMP_IOCTL_NOTIF_ID_VALID: the pid was not reused), has it
/// recorded — durably, before answering — and answers per the `SupervisionTable`.
///
/// Denials of one syscall are recorded individually up to `deniedRecordLimit`, then counted, so
/// an agent looping on a denied call cannot flood the log. Supervised syscalls are recorded
/// individually, durably, before they are answered, within the sandbox's budget
/// (`AuditLimits.syscallsPerSecond` after a burst of `syscallBurst`); past it they are answered
/// per policy and handed over for a summary — except execve and execveat, the command log that
/// triggers rest on, which are always recorded one by one. If recording fails the syscall is
/// denied: nothing recorded one by one happens without its evidence.
public enum SyscallSupervisor {
    public struct Summary: Sendable {
        public var notifications = 0
        public var recorded = 0
        /// Denials counted but not recorded one by one, per syscall.
        public var unrecordedDenials: [String: Int] = [:]
        /// Supervised syscalls past the budget, handed over for a summary.
        public var summarised = 0
        public var syncWakeUp = false
    }

    public static let deniedRecordLimit = 100
    /// Supervised syscalls recorded one by one whatever the budget.
    public static let alwaysRecorded: Set<String> = ["execve", "execveat"]
    /// Past the budget, the first supervised syscall of each (syscall, paths) under the world is
    /// still recorded one by one; this many such keys are remembered before the memory starts
    /// afresh (which records more, never less).
    static let worldKeysRemembered = 16_384

    /// The name denials of `name` are counted under: every number libseccomp cannot name is one
    /// bucket, so an agent walking the syscall numbers cannot multiply the per-name allowance.
    static func denialBucket(_ name: String) -> String { name.hasPrefix("syscall_") ? "syscall_unknown" : name }

    /// Starts supervising `listener` (taking ownership of the fd) on a new thread. `record` gets
    /// each syscall and whether it is to be recorded on its own (durably, before the answer) or
    /// counted for a summary; false refuses a syscall that was to be recorded. `finished` runs
    /// once every process that could notify has exited.
    public static func start(listener: Int32, table: SupervisionTable, limits: AuditLimits = AuditLimits(), world: String? = nil,
                             record: @escaping @Sendable (_ record: SyscallRecord, _ individually: Bool) -> Bool,
                             finished: @escaping @Sendable (Summary) -> Void) {
        let thread = Thread {
            finished(serve(listener: listener, table: table, limits: limits, world: world, record: record))
            close(listener)
        }
        thread.stackSize = 512 << 10
        thread.start()
    }

    /// `world`: where the sandbox sees the world (its paths' prefix); supervised syscalls on it
    /// past the budget are still recorded once per (syscall, paths), so detectors and triggers
    /// that name a world path see every distinct change.
    static func serve(listener: Int32, table: SupervisionTable, limits: AuditLimits, world: String? = nil,
                      record: (SyscallRecord, Bool) -> Bool) -> Summary {
        var summary = Summary()
        var budget = EventBudget(perSecond: limits.syscallsPerSecond, burst: limits.syscallBurst)
        summary.syncWakeUp = warden_seccomp_notify_sync_wakeup(listener) == 0
        // Keyed by `denialBucket`: at most one entry per syscall libseccomp names, plus one.
        var deniedCounts: [String: Int] = [:]
        var worldKeys: Set<String> = []
        var notification = warden_notification()
        while true {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, -1)
            if ready < 0 { if errno == EINTR { continue }; break }
            if poller.revents & Int16(POLLIN) == 0 { break }  // POLLHUP: no process is left to notify
            if warden_notify_receive(listener, &notification) != 0 {
                if errno == EINTR || errno == ENOENT { continue }  // the task died before we read it
                break
            }
            summary.notifications += 1
            let arguments = withUnsafeBytes(of: notification.args) { Array($0.bindMemory(to: UInt64.self)) }
            let (name, supervised, decision) = table.decide(number: notification.nr, arguments: arguments)
            var answer = decision
            let audited: Bool
            if supervised {
                audited = true
            } else {
                let bucket = denialBucket(name)
                deniedCounts[bucket, default: 0] += 1
                audited = deniedCounts[bucket, default: 0] <= deniedRecordLimit
                if !audited { summary.unrecordedDenials[bucket, default: 0] += 1 }
            }
            if audited {
                let details = SyscallEvidence.decode(name: name, arguments: arguments, memory: ProcessMemory(pid: pid_t(notification.pid)))
                // Only now is the copy known to belong to this notification's process.
                guard warden_notify_id_valid(listener, notification.id) == 0 else { continue }
                // Denials and supervised syscalls alike spend the sandbox's budget; past it they are
                // counted for a summary, except execs and the first of each world change.
                var individually = alwaysRecorded.contains(name) || budget.admit()
                if !individually, supervised, let world, let key = worldKey(name, details, world: world) {
                    if worldKeys.count >= worldKeysRemembered { worldKeys.removeAll() }
                    individually = worldKeys.insert(key).inserted
                }
                let taken = record(SyscallRecord(pid: Int32(notification.pid), syscall: name, supervised: supervised, decision: decision,
                                                 details: details), individually)
                if !individually {
                    summary.summarised += 1
                } else if taken {
                    summary.recorded += 1
                } else if decision == .allow {
                    answer = .deny(EPERM)
                }
            }
            switch answer {
            case .allow: _ = warden_notify_respond(listener, notification.id, 0, 1)
            case .deny(let e): _ = warden_notify_respond(listener, notification.id, e, 0)
            }
        }
        return summary
    }

    /// `SYSCALL paths…` when one of the syscall's paths lies under `world`.
    static func worldKey(_ name: String, _ details: [String: JSONValue], world: String) -> String? {
        let paths = (details["paths"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard paths.contains(where: { $0 == world || $0.hasPrefix(world + "/") }) else { return nil }
        return ([name] + paths).joined(separator: "\u{0}")
    }
}
