import Dispatch
import Synchronization

/// Group commit: appenders queue their entries; whoever finds no writer at work makes one, the
/// writer takes everything queued, writes it in one transaction (one fsync), hands each
/// appender its durable results, and goes on until the queue is empty. Every append still
/// returns only once its entries are on disk — the write-ahead rule holds — but under load one
/// fsync serves many events.
///
/// A blocking appender (a thread: the syscall supervisor) writes in place when it finds no
/// writer, and otherwise sleeps until its batch is written. An async appender never blocks its
/// thread: it suspends, and when there is no writer it starts one on `writerQueue` — a
/// dispatch thread outside Swift's cooperative pool, so the pool's few threads (one per core)
/// go on running tasks while a batch is written and synced.
final class GroupCommit<Entry: Sendable, Output: Sendable>: Sendable {
    /// One submission's entries: collects their results and wakes the submitter once all are in.
    private final class Waiter: Sendable {
        private enum Wake {
            case thread(DispatchSemaphore)
            case task(CheckedContinuation<[Result<Output, AuditError>], Never>)
        }
        private let state: Mutex<(results: [Result<Output, AuditError>?], missing: Int)>
        private let wake: Wake

        init(count: Int, semaphore: DispatchSemaphore) {
            state = Mutex((Array(repeating: nil, count: count), count))
            wake = .thread(semaphore)
        }

        init(count: Int, continuation: CheckedContinuation<[Result<Output, AuditError>], Never>) {
            state = Mutex((Array(repeating: nil, count: count), count))
            wake = .task(continuation)
        }

        func deliver(_ result: Result<Output, AuditError>, at index: Int) {
            let complete = state.withLock { state -> [Result<Output, AuditError>]? in
                state.results[index] = result
                state.missing -= 1
                guard state.missing == 0 else { return nil }
                return Self.filled(state.results)
            }
            guard let complete else { return }
            switch wake {
            case .thread(let semaphore): semaphore.signal()
            case .task(let continuation): continuation.resume(returning: complete)
            }
        }

        /// The results, once delivered (threads read them after their semaphore).
        var results: [Result<Output, AuditError>] {
            state.withLock { state in Self.filled(state.results) }
        }

        private static func filled(_ results: [Result<Output, AuditError>?]) -> [Result<Output, AuditError>] {
            results.map { $0 ?? .failure(AuditError(.writeFailed, "the audit writer gave no result")) }
        }
    }

    private let state = Mutex<(queue: [(entry: Entry, waiter: Waiter, index: Int)], writing: Bool)>(([], false))
    /// Writes a batch in one transaction, returning one result per entry, in order.
    private let write: @Sendable ([Entry]) -> Result<[Output], AuditError>
    /// At most this many entries per transaction (bounded memory and latency).
    let maxBatch: Int
    private let writerQueue = DispatchQueue(label: "warden.audit.group-commit")

    init(maxBatch: Int = 4096, write: @escaping @Sendable ([Entry]) -> Result<[Output], AuditError>) {
        self.maxBatch = maxBatch
        self.write = write
    }

    /// Appends `entry`; returns when it is durable (or failed with its batch).
    func submit(_ entry: Entry) throws(AuditError) -> Output {
        try submit(all: [entry])[0]
    }

    /// Appends `entries` next to each other in the log (nothing queued between them), usually in
    /// one transaction; returns when all are durable (or failed with their batch).
    func submit(all entries: [Entry]) throws(AuditError) -> [Output] {
        let done = DispatchSemaphore(value: 0)
        let waiter = Waiter(count: entries.count, semaphore: done)
        if enqueue(entries, waiter) { drain() }
        done.wait()
        return try waiter.results.map { result throws(AuditError) in try result.get() }
    }

    /// The same without blocking a thread: the task suspends until its entries are durable.
    func submitAsync(all entries: [Entry]) async throws(AuditError) -> [Output] {
        let results = await withCheckedContinuation { continuation in
            let waiter = Waiter(count: entries.count, continuation: continuation)
            if enqueue(entries, waiter) { writerQueue.async { self.drain() } }
        }
        return try results.map { result throws(AuditError) in try result.get() }
    }

    /// Queues the entries together; true if the caller must see to a writer.
    private func enqueue(_ entries: [Entry], _ waiter: Waiter) -> Bool {
        state.withLock { state -> Bool in
            for (index, entry) in entries.enumerated() { state.queue.append((entry, waiter, index)) }
            if state.writing { return false }
            state.writing = true
            return true
        }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [(entry: Entry, waiter: Waiter, index: Int)] in
                let taken = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(taken.count)
                if taken.isEmpty { state.writing = false }
                return taken
            }
            if batch.isEmpty { return }
            switch write(batch.map(\.entry)) {
            case .success(let results):
                for (item, result) in zip(batch, results) { item.waiter.deliver(.success(result), at: item.index) }
            case .failure(let error):
                for item in batch { item.waiter.deliver(.failure(error), at: item.index) }
            }
        }
    }
}
