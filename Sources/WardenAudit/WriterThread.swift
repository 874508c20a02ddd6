import CWardenLinux
import Dispatch
import Foundation
import Glibc
import Synchronization

/// The thread that writes every batch of a log's group commit: one per log, named
/// `audit-writer` (so `top -H` and perf tell it apart), at a raised priority (nice −10) where
/// the process may set one.
///
/// Every agent's every call passes through this one thread, in order, so under CPU contention
/// every caller waits behind it. Raised, it drains what the broker has queued before the
/// agents' own work runs (docs/performance.md, "Load drill", has the effect on latency). It
/// takes nothing from one agent to give another: it writes the queue first come, first served,
/// and its work is bounded by what the callers queue. The broker loops stay at nice 0 (raised too, one
/// agent's flood of requests would run ahead of every other agent's own work).
final class WriterThread: Sendable {
    /// The nice value asked for, where the process may lower one (CAP_SYS_NICE: root, or the
    /// systemd unit's bounding set). Elsewhere the writer runs at 0; wardend says so at start.
    static let raisedNice: Int32 = -10

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var timed: [(due: DispatchTime, job: @Sendable () -> Void)] = []
        var stopping = false
    }
    /// What the thread and its users share (the thread holds this, not the `WriterThread`).
    private final class Queue: Sendable {
        let state = Mutex(State())
        let wake = DispatchSemaphore(value: 0)
    }
    private let queue = Queue()
    /// Whether the thread got `raisedNice` (known before `init` returns).
    let isRaised: Bool

    init(name: String = "audit-writer") {
        let started = DispatchSemaphore(value: 0)
        let raised = Atomic<Bool>(false)
        let queue = self.queue
        let thread = Thread {
            _ = warden_set_thread_name(name)
            // On Linux the nice value belongs to the thread: who = 0 is the calling thread.
            raised.store(setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.raisedNice) == 0, ordering: .relaxed)
            started.signal()
            Self.run(queue)
        }
        thread.start()
        started.wait()
        isRaised = raised.load(ordering: .relaxed)
    }

    /// Runs `job` on the thread, after the jobs already given it.
    func execute(_ job: @escaping @Sendable () -> Void) {
        queue.state.withLock { $0.jobs.append(job) }
        queue.wake.signal()
    }

    /// Runs `job` on the thread once `delay` has passed.
    func execute(after delay: DispatchTimeInterval, _ job: @escaping @Sendable () -> Void) {
        queue.state.withLock { $0.timed.append((.now() + delay, job)) }
        queue.wake.signal()
    }

    /// Lets the thread end once it has run every job given it (the log is gone).
    func stop() {
        queue.state.withLock { $0.stopping = true }
        queue.wake.signal()
    }

    private static func run(_ queue: Queue) {
        while true {
            let (jobs, next, stopping) = queue.state.withLock { state -> ([@Sendable () -> Void], DispatchTime?, Bool) in
                var jobs = state.jobs
                state.jobs.removeAll()
                let now = DispatchTime.now()
                jobs += state.timed.filter { $0.due <= now }.map(\.job)
                state.timed.removeAll { $0.due <= now }
                return (jobs, state.timed.map(\.due).min(), state.stopping)
            }
            for job in jobs { job() }
            guard jobs.isEmpty else { continue }
            if stopping, next == nil { return }
            _ = queue.wake.wait(timeout: next ?? .distantFuture)
        }
    }
}
