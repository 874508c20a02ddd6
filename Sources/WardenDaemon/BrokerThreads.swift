import CWardenLinux
import NIOCore
import NIOPosix

/// The broker's own threads, outside Swift's cooperative pool: event loops that carry the agents'
/// connections and run their sessions. A broker call blocks — each audit append waits for its
/// commit's fsync before the action it authorises — and a blocked pool thread (there is one per
/// core) stalls every other task of the daemon: on two cores, two agents waiting for the disk
/// held up all the rest, and their appends could never share a commit. Here up to `count` calls
/// wait for the disk at once (their appends meet in one group commit) while the pool goes on. A
/// fixed number, not a thread per agent: 256 agents' threads on two cores made the load drill's
/// tail ten times worse.
///
/// A session runs on the event loop that reads and writes its connection
/// (`run(on:)`): the request is handled on the thread that read it and the answer written from
/// there, with no hand-off between an I/O thread and a worker — each hand-off woke a thread on
/// another core, and a call had four of them (two now: the agent's write and the answer).
/// A loop blocked in a commit holds up the other connections it carries, as a busy worker did.
///
/// 32 loops: with 16, a loop carrying two busy agents answered the second only after the first's
/// commit, so fewer calls met in each commit; 32 agents calling at once reached 18–20k calls/s
/// on 16 loops and 21–24k on 32 (alternating runs, AMD EPYC, 2 cores). The load drill (256
/// agents) paid a little at first — broker-answered tools p50 5–6 ms, p99 35–39 ms, against 4
/// and 31 on 16 (two drills each), while the loops still wrote commits in place — and with
/// every commit on the audit writer's thread gives 2.0–2.6 ms and 35–40. Suspending calls
/// instead of blocking (the loops serving other connections meanwhile) reached 20–27k but
/// doubled the drill's p50 (6–15 ms): a resumed call waits behind its loop's other work, while a
/// woken thread goes on at once.
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
            loop.execute { _ = warden_set_thread_name("broker-\(index)") }
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
