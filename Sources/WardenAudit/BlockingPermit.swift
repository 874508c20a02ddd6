import Glibc
import Synchronization

/// The concurrency rule of Warden, for the audit log's blocking appends:
///
/// 1. A broker session answers on its connection's event loop (`BrokerThreads`), synchronously
///    inside; the syscall supervisor answers on its own thread.
/// 2. Only those threads may wait for the disk with a blocking append (`appendNow(…, .durable)`,
///    `appendNow(_:then:)`): each marks itself with `BlockingPermit.grant()` when it starts.
/// 3. Everything else — actors, tasks on Swift's cooperative pool, NIO's control loops — appends
///    with the async `append`, which suspends instead of blocking a thread the pool shares.
///
/// A blocking append on an unmarked thread is counted (`violations`, reported by `status`), so
/// a test that drives a call path can assert it kept the rule.
public enum BlockingPermit {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private static let count = Atomic<Int>(0)

    /// This thread's own count of violations (a pointer-sized integer in a thread-specific slot).
    private static let ownKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Marks the calling thread as one that may block on the disk.
    public static func grant() {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
    }

    /// Whether the calling thread may block on the disk.
    public static var granted: Bool { pthread_getspecific(key) != nil }

    /// Blocking appends made on threads without the permit since the process started.
    public static var violations: Int { count.load(ordering: .relaxed) }

    /// Those made on the calling thread.
    public static var violationsOnThisThread: Int { Int(bitPattern: pthread_getspecific(ownKey)) }

    /// Notes a blocking append; counts it when the calling thread has no permit.
    static func check() {
        guard !granted else { return }
        count.add(1, ordering: .relaxed)
        pthread_setspecific(ownKey, UnsafeRawPointer(bitPattern: violationsOnThisThread + 1))
    }
}
