import WardenAudit
import CWardenLinux
import NIOCore
import NIOPosix

/// The broker's own threads, outside Swift's cooperative pool: event loops that carry the agents'
/// connections and run their sessions. A broker call blocks — each audit append waits for its
/// commit's fsync before the action it authorises — and a blocked pool thread (there is one per
/// core) would stall every other task of the daemon. Here up to `count` calls wait for the disk
/// at once (their appends meet in one group commit) while the pool goes on. A fixed number, not a
/// thread per agent: hundreds of agents' threads on a few cores make the tail latency worse.
///
/// A session runs on the event loop that reads and writes its connection (`run(on:)`): the
/// request is handled on the thread that read it and the answer written from there, with no
/// hand-off between an I/O thread and a worker. A loop blocked in a commit holds up the other
/// connections it carries. The number of loops, and why blocking beats suspending here, are
/// measured in docs/performance.md.
final class BrokerThreads: TaskExecutor {
    static let shared = BrokerThreads(count: 32)

    let group: MultiThreadedEventLoopGroup
    /// Each loop as a task executor, by the loop's identity.
    private let executors: [ObjectIdentifier: LoopExecutor]

    init(count: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        var executors: [ObjectIdentifier: LoopExecutor] = [:]
        for (index, loop) in group.makeIterator().enumerated() {
            executors[ObjectIdentifier(loop)] = LoopExecutor(loop: loop)
            // The kernel's name too, so top -H and perf tell these apart.
            loop.execute {
                _ = warden_set_thread_name("broker-\(index)")
                BlockingPermit.grant()
            }
        }
        self.executors = executors
    }

    /// Whether the caller runs on one of these threads.
    var isCurrent: Bool {
        MultiThreadedEventLoopGroup.currentEventLoop.map { executors[ObjectIdentifier($0)] != nil } ?? false
    }

    /// Runs `body` on the loop `loop` (one of `group`'s; any other: on the next of them). A
    /// preference takes effect at the task's next suspension (until then an actor call may run
    /// inline on the caller's pool thread), so this suspends once first.
    func run<T>(on loop: (any EventLoop)? = nil, _ body: () async -> T) async -> T {
        let executor = loop.flatMap { executors[ObjectIdentifier($0)] } ?? executors[ObjectIdentifier(group.next())]
        return await withTaskExecutorPreference(executor ?? self) {
            await Task.yield()
            return await body()
        }
    }

    /// A job for no loop in particular goes to the next one, round robin. Nothing of the daemon's
    /// runs this way (sessions run on their connection's loop); two blocking jobs placed so may
    /// land on one loop and run one after the other.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        group.next().execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// One event loop as a task executor: a task that prefers it runs on the loop's thread, and a job
/// enqueued from that thread (a read resuming the session's task) runs in the same loop turn
/// without waking anything.
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
