import Synchronization
import WardenAudit
import WardenCore
import WardenScenario
import WardenVocabulary

/// Fires a run's timed and event-triggered injections. It watches the run's durable audit
/// events (tool calls, syscall records), so a trigger sees exactly what the evidence will
/// show; each injection fires at most once. Start messages and follow-up questions are handed
/// to the sessions directly and are not its business.
final class InjectionEngine: Sendable {
    let manager: RunManager
    let audit: AuditLog
    let runID: String
    let injections: [WardenScenario.Injection]
    private let state = Mutex<(token: UInt64?, tasks: [Task<Void, Never>])>((nil, []))
    /// The last watched event handed over, and the last one fully handled.
    private let progress = Mutex<(seen: Int64, handled: Int64)>((0, 0))

    init(manager: RunManager, audit: AuditLog, runID: String, injections: [WardenScenario.Injection]) {
        self.manager = manager
        self.audit = audit
        self.runID = runID
        self.injections = injections.filter { injection in
            switch injection.trigger {
            case .start, .done: false
            default: true
            }
        }
    }

    func start() {
        guard !injections.isEmpty else { return }
        let (stream, continuation) = AsyncStream<AuditEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let runID = runID
        let token = audit.observe { event in
            guard event.run == runID, event.kind == AuditKind.toolCall.rawValue || event.kind == AuditKind.syscall.rawValue else { return }
            self.progress.withLock { $0.seen = event.seq }
            continuation.yield(event)
        }
        var tasks: [Task<Void, Never>] = []
        for injection in injections {
            if case .afterSeconds(let seconds) = injection.trigger {
                tasks.append(Task { [manager] in
                    guard (try? await CancellableSleep.sleep(for: .milliseconds(Int(seconds * 1000)))) != nil else { return }
                    await manager.fire(injection, run: runID, cause: ["after_seconds": .double(seconds)])
                })
            }
        }
        let watched = injections.filter { if case .afterSeconds = $0.trigger { false } else { true } }
        if !watched.isEmpty {
            tasks.append(Task { [manager] in
                var fired = Set<Int>()
                var toolCalls: [String: Int] = [:]
                for await event in stream {
                    if event.kind == AuditKind.toolCall.rawValue { toolCalls[event.agent, default: 0] += 1 }
                    for (index, injection) in watched.enumerated() where !fired.contains(index) {
                        let matched: Bool
                        switch injection.trigger {
                        case .afterToolCalls(let count, let agent): matched = event.agent == agent && toolCalls[agent] == count
                        case .on(let match): matched = match.matches(kind: event.kind, agent: event.agent, payload: event.payload)
                        default: matched = false
                        }
                        guard matched else { continue }
                        fired.insert(index)
                        await manager.fire(injection, run: runID, cause: ["event": .int(event.seq), "kind": .string(event.kind)])
                    }
                    self.progress.withLock { $0.handled = event.seq }
                    if fired.count == watched.count {
                        self.progress.withLock { $0.handled = .max }
                        break
                    }
                }
            })
        }
        state.withLock { $0 = (token, tasks) }
    }

    /// Waits (at most `limit`) until every event seen so far has been handled, so an injection
    /// triggered by an agent's last action still takes effect before the run ends.
    func settle(limit: Duration = .seconds(2)) async {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let (seen, handled) = progress.withLock { ($0.seen, $0.handled) }
            if handled >= seen { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Stops watching; injections that have not fired never will. Safe to call twice.
    func stop() {
        let (token, tasks) = state.withLock { state in
            defer { state = (nil, []) }
            return state
        }
        if let token { audit.stopObserving(token) }
        for task in tasks { task.cancel() }
    }
}
