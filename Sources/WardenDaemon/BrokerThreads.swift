import CWardenLinux
import Foundation
import NIOCore
import Synchronization

/// A task executor of its own few threads, outside Swift's cooperative pool, for the broker's
/// work. A broker call blocks — each audit append waits for its commit's fsync before the
/// action it authorises — and a blocked pool thread (there is one per core) stalls every other
/// task of the daemon: on two cores, two agents waiting for the disk held up all the rest, and
/// their appends could never share a commit. Here up to `count` calls wait for the disk at once
/// (their appends meet in one group commit) while the pool goes on. A fixed number, not a
/// thread per agent: 256 agents' threads on two cores made the load drill's tail ten times worse.
final class BrokerThreads: TaskExecutor {
    static let shared = BrokerThreads(count: 16)

    /// Jobs waiting for a thread, oldest first.
    private let jobs = Mutex(CircularBuffer<UnownedJob>())
    private let waiting = DispatchSemaphore(value: 0)
    /// pthread_self() of each of its threads.
    private let threads = Mutex<Set<UInt>>([])

    /// Whether the caller runs on one of these threads.
    var isCurrent: Bool { threads.withLock { $0.contains(UInt(pthread_self())) } }

    init(count: Int) {
        for index in 0..<count {
            let thread = Thread { [self] in
                // The kernel's name too (Foundation sets only its own), so top -H and perf tell these apart.
                _ = warden_set_thread_name("broker-\(index)")
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                work()
            }
            thread.name = "broker-\(index)"
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// Runs `body` with these threads preferred. A preference takes effect at the task's next
    /// suspension (until then an actor call may run inline on the caller's pool thread), so this
    /// suspends once first.
    func run<T>(_ body: () async -> T) async -> T {
        await withTaskExecutorPreference(self) {
            await Task.yield()
            return await body()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        waiting.signal()
    }

    private func work() {
        while true {
            waiting.wait()
            jobs.withLock { $0.popFirst() }?.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
