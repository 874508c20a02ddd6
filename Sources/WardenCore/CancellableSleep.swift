import Dispatch
import Synchronization

/// A sleep whose cancellation frees its timer at once.
///
/// `Task.sleep` on Linux arms a dispatch timer that stays armed, holding memory, until its
/// deadline even when the sleeping task is cancelled. wardend cancels a run's time limit at
/// every run's end, so long sleeps that are usually cancelled use this instead, and a suite's
/// cancelled limits hold nothing.
public enum CancellableSleep {
    /// Returns after `duration`, or throws `CancellationError` as soon as the task is cancelled.
    public static func sleep(for duration: Duration) async throws {
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                sleeper.start(continuation, after: duration)
            }
        } onCancel: {
            sleeper.finish(throwing: CancellationError())
        }
    }

    private static let queue = DispatchQueue(label: "warden.sleep")

    /// Sleeps whose timer is still held: a sleep that has ended or been cancelled is not one.
    static var held: Int { heldCount.load(ordering: .relaxed) }
    private static let heldCount = Atomic<Int>(0)

    private final class Sleeper: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, timer: (any DispatchSourceTimer)?, done: Bool)>(
            (nil, nil, false))

        init() { CancellableSleep.heldCount.add(1, ordering: .relaxed) }
        deinit { CancellableSleep.heldCount.subtract(1, ordering: .relaxed) }

        func start(_ continuation: CheckedContinuation<Void, any Error>, after duration: Duration) {
            let timer = DispatchSource.makeTimerSource(queue: CancellableSleep.queue)
            timer.schedule(deadline: .now() + Self.interval(duration))
            timer.setEventHandler { [self] in finish(throwing: nil) }
            let cancelledAlready = state.withLock { state -> Bool in
                if state.done { return true }
                state.continuation = continuation
                state.timer = timer
                return false
            }
            if cancelledAlready {
                timer.cancel()
                continuation.resume(throwing: CancellationError())
            }
            // Also when cancelled: libdispatch traps when a source is released never activated.
            timer.activate()
        }

        /// Resumes the sleeper once (the deadline or a cancellation, whichever comes first) and
        /// cancels the timer, which releases it and the handler that holds this object.
        func finish(throwing error: (any Error)?) {
            let continuation = state.withLock { state in
                state.done = true
                state.timer?.cancel()  // does not block, and never runs the handler
                defer { state.continuation = nil; state.timer = nil }
                return state.continuation
            }
            if let error { continuation?.resume(throwing: error) } else { continuation?.resume() }
        }

        static func interval(_ duration: Duration) -> DispatchTimeInterval {
            let (seconds, attoseconds) = duration.components
            guard seconds < Int64(Int.max / 1_000_000_000) else { return .never }
            return .nanoseconds(max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
        }
    }
}
