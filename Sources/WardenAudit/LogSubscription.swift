import GRDBSQLite
import Synchronization
import WardenCore
import WardenVocabulary

/// Observers of the log: told of every event once it is durable, on the writer's thread.
extension AuditLog {
    /// Calls `handler` with every event appended from now on, after it is durable. Handlers run
    /// on the writer's thread and must only hand the event on.
    public func observe(_ handler: @escaping @Sendable (AuditEvent) -> Void) -> UInt64 {
        observers.withLock { state in
            state.next += 1
            state.handlers[state.next] = handler
            return state.next
        }
    }

    public func stopObserving(_ token: UInt64) {
        _ = observers.withLock { $0.handlers.removeValue(forKey: token) }
    }

    /// How many observers are registered (each follower of the log holds one while it follows;
    /// `status` shows it, so a leak shows up).
    public var observerCount: Int { observers.withLock { $0.handlers.count } }

    /// Heap memory SQLite holds in this process (page caches of every connection, statements):
    /// bounded by the cache sizes, and shown by `status` so growth can be told apart from a leak.
    public static var sqliteMemoryBytes: Int64 { sqlite3_memory_used() }

    /// A subscription to the events `filter` may match (by run, agent and kind), from now on.
    public func subscribe(_ filter: AuditFilter) -> LogSubscription {
        let subscription = LogSubscription(filter: filter)
        subscription.token = observe { [weak subscription] event in subscription?.observed(event) }
        subscription.log = self
        return subscription
    }
}

/// Wakes a reader of the log when events it wants are durable, so that it reads them then,
/// from the log, instead of asking the database every few milliseconds. It carries no events:
/// the reader reads what it has not seen (so a slow reader holds no buffer, and misses nothing
/// appended after it subscribed). Wakes coalesce: many events before the reader looks are one
/// wake. It also notes the `run.end` of the filter's run, whatever else the filter asks for.
public final class LogSubscription: @unchecked Sendable {
    // `token` and `log` are set once, in `AuditLog.subscribe`, before the subscription is
    // returned; read-only afterwards. Everything else is under `state`.
    fileprivate var token: UInt64 = 0
    fileprivate weak var log: AuditLog?
    private let filter: AuditFilter
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
        /// Ends the current wait at its time-out; cancelled when the wait ends sooner.
        var timer: Task<Void, Never>?
        var waits: UInt64 = 0
        var runEnd: Int64?
    }
    private let state = Mutex(State())

    fileprivate init(filter: AuditFilter) { self.filter = filter }

    deinit { cancel() }

    /// Stops the log's calls; a waiter is woken.
    public func cancel() {
        if let log { log.stopObserving(token) }
        wake()
    }

    /// The seq of the filter's run's `run.end`, once it is durable.
    public var runEnd: Int64? { state.withLock { $0.runEnd } }

    /// Waits until events the filter may match have arrived since the last wait (true), or
    /// `timeout` passes or the waiting task is cancelled (false). Returns at once when some
    /// arrived meanwhile.
    public func wait(timeout: Duration) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let armed = state.withLock { state -> UInt64? in
                    if state.pending {
                        state.pending = false
                        return nil
                    }
                    state.waiter?.resume(returning: false)
                    state.timer?.cancel()
                    state.waiter = continuation
                    state.waits += 1
                    return state.waits
                }
                guard let armed else { return continuation.resume(returning: true) }
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    self?.expire(armed)
                }
                state.withLock { state in
                    if state.waits == armed, state.waiter != nil { state.timer = timer } else { timer.cancel() }
                }
            }
        } onCancel: {
            expire(nil)
        }
    }

    /// Wakes the reader as if events had arrived (its own end, say).
    public func wake() {
        state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                state.timer?.cancel()
                state.timer = nil
                waiter.resume(returning: true)
            } else {
                state.pending = true
            }
        }
    }

    /// Ends wait number `wait` (any wait, when nil) without events.
    private func expire(_ wait: UInt64?) {
        state.withLock { state in
            guard wait == nil || state.waits == wait, let waiter = state.waiter else { return }
            state.waiter = nil
            state.timer?.cancel()
            state.timer = nil
            waiter.resume(returning: false)
        }
    }

    fileprivate func observed(_ event: AuditEvent) {
        if let run = filter.run {
            guard event.run == run else { return }
            if event.kind == AuditKind.runEnd.rawValue {
                state.withLock { $0.runEnd = event.seq }
                return wake()
            }
        }
        if let agent = filter.agent, event.agent != agent { return }
        // A kind ending in "." is a family (`model.`), as `events(matching:)` reads it.
        if let kind = filter.kind, kind.hasSuffix(".") ? !event.kind.hasPrefix(kind) : event.kind != kind { return }
        wake()
    }
}
