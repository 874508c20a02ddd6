import Glibc
import Logging
import Synchronization
import WardenAudit
import WardenCore
import WardenSandbox
import WardenSandboxHost
import WardenScenario
import WardenVerdicts
import WardenVocabulary
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
    /// Where the sandbox sees the world: changes there are recorded past the budget too.
    let world: String
    /// Sizes of the files exec triggers wait for: an exec'd program or script of one of these
    /// sizes is identified by content too (nil: no exec trigger, execs are identified by inode).
    var execHashSizes: Set<Int64>? = nil
    /// Told each syscall recorded one by one, once durable and before it is answered (the
    /// world's history and the scenario's triggers are taken there).
    var recorded: (@Sendable (AuditEvent, SyscallEvent) -> Void)? = nil
    let logger: Logger
    /// Set once the supervision's last event is queued in the log.
    let done = SupervisionDone()

    func start(listener: Int32) {
        guard let table else {
            close(listener)
            done.signal()
            return
        }
        let (audit, runID, agentID, logger, escapes, done) = (audit, runID, agentID, logger, escapes, done)
        let (hashSizes, recorded) = (execHashSizes, recorded)
        let flood = FloodCount()
        SyscallSupervisor.start(
            listener: listener, table: table, limits: limits, world: world,
            record: { record, individually in
                let judgement = Self.judge(record, escapes: escapes)
                guard individually else {
                    if let summary = flood.add(record, escape: judgement?.leavesWorld == true) {
                        audit.appendNow(summary, run: runID, agent: agentID, durability: .queued, loggingFailuresTo: logger)
                    }
                    return true
                }
                var details = record.details
                if record.decision == .allow, record.syscall == "execve" || record.syscall == "execveat" {
                    details["exec"] = Self.executed(record, hashSizes: hashSizes ?? [])
                }
                let event = SyscallEvent(pid: record.pid, syscall: record.syscall, supervised: record.supervised, decision: record.decisionText,
                                         resolution: judgement.map { .init(leavesWorld: $0.leavesWorld, reason: $0.reason) }, details: details)
                do {
                    BlockingPermit.grant()  // the supervisor's own thread answers the kernel
                    guard let written = try audit.appendNow(event, run: runID, agent: agentID, durability: .durable) else { return true }
                    recorded?(written, event)
                    return true
                } catch {
                    logger.error("cannot audit a syscall; denying it", metadata: ["run": "\(runID)", "error": "\(error)"])
                    return false
                }
            },
            finished: { summary in
                var closing = flood.drain()
                closing.final = true
                closing.notifications = summary.notifications
                closing.recorded = summary.recorded
                closing.unrecordedDenials = summary.unrecordedDenials
                closing.syncWakeUp = summary.syncWakeUp
                audit.appendNow(closing, run: runID, agent: agentID, durability: .queued, loggingFailuresTo: logger)
                done.signal()
            })
    }

    /// Supervised syscalls past the budget, counted until they are summarised.
    final class FloodCount: Sendable {
        private let state = Mutex<(counts: [String: [String: Int]], escapes: Int, since: ContinuousClock.Instant?)>(([:], 0, nil))

        /// Counts one; the summary to record when a second has passed since the first counted.
        func add(_ record: SyscallRecord, escape: Bool) -> SyscallSummary? {
            let decision = record.decisionText
            let now = ContinuousClock.now
            let due = state.withLock { state -> Bool in
                state.counts[record.syscall, default: [:]][decision, default: 0] += 1
                if escape { state.escapes += 1 }
                if state.since == nil { state.since = now }
                return now - state.since! >= .seconds(1)
            }
            guard due else { return nil }
            var summary = drain()
            summary.final = false
            return summary
        }

        /// What is counted, as a summary, and a fresh count.
        func drain() -> SyscallSummary {
            let (counts, escapes) = state.withLock { state in
                defer { state = ([:], 0, nil) }
                return (state.counts, state.escapes)
            }
            return SyscallSummary(final: nil, summarised: counts, summarisedTotal: counts.values.reduce(0) { $0 + $1.values.reduce(0, +) },
                                  escapeAttempts: escapes > 0 ? escapes : nil)
        }
    }

    /// Interpreters whose first operand is the script they run.
    static let interpreters: Set<String> = ["sh", "bash", "dash", "python3", "python"]

    /// What an exec ran, found by descriptor from the process's root: the program, and for an
    /// interpreter its script operand (relative to the process's working directory).
    static func executed(_ record: SyscallRecord, hashSizes: Set<Int64>) -> JSONValue {
        let paths = (record.details["paths"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard let program = paths.last else { return .null }
        var found: [String: JSONValue] = [:]
        if let file = ProcessView.executed(pid: record.pid, path: program, hashSizes: hashSizes) { found["program"] = file.json }
        let argv = (record.details["argv"]?.arrayValue ?? []).compactMap(\.stringValue)
        let name = program.split(separator: "/").last.map(String.init) ?? program
        if interpreters.contains(name) || name.hasPrefix("python3."), let script = scriptOperand(argv) {
            let absolute = script.hasPrefix("/") ? script : (KernelFile.link("/proc/\(record.pid)/cwd") ?? "/") + "/" + script
            if let file = ProcessView.executed(pid: record.pid, path: absolute, hashSizes: hashSizes) { found["script"] = file.json }
        }
        return .object(found)
    }

    /// An interpreter's script: its first operand that is not an option; none with `-c` or `-m`.
    static func scriptOperand(_ argv: [String]) -> String? {
        for word in argv.dropFirst() {
            if word == "-c" || word == "-m" { return nil }
            if word == "--" { continue }
            if word.hasPrefix("-") || word.hasPrefix("+") { continue }
            return word
        }
        return nil
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

/// The end of one sandbox's supervision: its closing `syscall.summary` (with the last second's
/// counts of a flood) is queued before `signal`, so whatever a run appends after `wait` lands
/// behind it in the log — the end snapshot and the verdicts see every count.
final class SupervisionDone: Sendable {
    private struct State {
        var done = false
        var timedOut = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func signal() { finish(timedOut: false) }

    private func finish(timedOut: Bool) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.done else { return [] }
            state.done = true
            state.timedOut = timedOut
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once signalled: true, or false after `timeout` (a process outlived its sandbox's
    /// pid 1 and still holds the listener, which the caller reports).
    func wait(timeout: Duration) async -> Bool {
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.finish(timedOut: true)
        }
        defer { timer.cancel() }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.done { return true }
                state.waiting.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        return state.withLock { !$0.timedOut }
    }
}
