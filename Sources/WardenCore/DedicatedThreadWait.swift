import Dispatch
import Synchronization

/// Runs `operation` as a task and blocks the calling thread until it returns. Only for threads
/// of Warden's own (a syscall supervisor) that must not answer before the operation is done;
/// never on Swift's cooperative pool, whose threads it would hold.
public func awaitOnDedicatedThread<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await operation()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}
