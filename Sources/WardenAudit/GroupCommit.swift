import DequeModule
import Dispatch
import NIOConcurrencyHelpers
import Synchronization

/// What an entry gets if the batch writer returned fewer results than it was given.
private let noResult = AuditError(.writeFailed, "the audit writer gave no result")

/// Group commit: appenders queue their entries; whoever finds no writer at work starts one, the
/// writer takes everything queued, writes it in one transaction (one fsync), hands each
/// appender its durable results, and goes on until the queue is empty. Every waiting append
/// returns only once its entries are on disk — the write-ahead rule holds — but under load one
/// fsync serves many events.
///
/// Every batch is written on the log's own thread (`WriterThread`, raised where permitted),
/// outside Swift's cooperative pool. A blocking appender (a thread: a broker loop, the syscall
/// supervisor) starts it if it is idle and sleeps until its batch is written; an async appender
/// suspends instead. No appender writes in place: a caller preempted mid-commit would hold
/// SQLite's write lock from everyone at the caller's priority, so every batch is the writer's
/// (docs/performance.md has the latency this keeps).
///
/// A *posted* entry (an event that authorises nothing: an outcome, a reply) is queued without
/// waiting. It rides in the next commit — the next waiting append's, or a writer started
/// `postDelay` later — so it costs no fsync of its own. The queue is one order: an entry
/// written after it is durable only if it is. If a batch holding posted entries fails, their
/// key (the run) is *lost*: what is still queued for it fails, and so does every later append
/// for it, so the log never holds a run's later events without its earlier ones.
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
            results.map { $0 ?? .failure(noResult) }
        }
    }

    /// What a post leaves to do once it has the lock: nothing, start a writer later, or wait
    /// for its commit (the queue is full).
    private enum PostNext { case nothing, kick, wait }

    /// Who is told a queued entry's result, and where in its submission it stands; a posted
    /// entry has no waiter.
    private struct Owner: Sendable {
        var waiter: Waiter?
        var index: Int
    }

    private struct State: Sendable {
        // Entries and their owners queue side by side (the same count, the same order), so the
        // writer moves entries out into its batch without copying them (a Deque's removal moves;
        // NIO's CircularBuffer copies): a copy would retain every field of every entry on the
        // single writer's path.
        var queue = Deque<Entry>(minimumCapacity: 1024)
        var owners = Deque<Owner>(minimumCapacity: 1024)
        var writing = false
        /// A writer is due `postDelay` after a post found none.
        var kickScheduled = false
        /// Entries ever queued, and ever taken off the queue (written, or failed): a barrier
        /// waits until `done` reaches what was queued before it.
        var queued: UInt64 = 0
        var done: UInt64 = 0
        var barriers: [(upTo: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Keys whose posted entries were lost, with the failure.
        var lost: [String: AuditError] = [:]
    }

    // A pthread mutex, not Synchronization's Mutex: that one spins before it sleeps, and with
    // more appenders than cores the spinning takes the CPU the writer needs.
    private let state = NIOLockedValueBox(State())
    /// Writes a batch in one transaction, returning one result per entry, in order.
    private let write: @Sendable ([Entry]) -> Result<[Output], AuditError>
    /// The key an entry is lost under when a posted entry fails (the audit log's run).
    private let key: @Sendable (Entry) -> String
    /// Called on each entry as it joins the queue, under the queue's lock (the log's time).
    private let stamp: @Sendable (inout Entry) -> Void
    /// At most this many entries per transaction (bounded memory and latency).
    let maxBatch: Int
    /// How long a posted entry waits for another commit to ride in before it starts its own.
    let postDelay: DispatchTimeInterval
    /// With this many entries queued, a post waits for its commit like `submit` (backpressure:
    /// posters faster than the disk would otherwise grow the queue without bound).
    let highWater: Int
    /// Writes every batch (`WriterThread`).
    private let writer = WriterThread()

    /// Whether the writer thread runs at a raised priority (`WriterThread`).
    var writerPriorityRaised: Bool { writer.isRaised }

    init(maxBatch: Int = 4096, postDelay: DispatchTimeInterval = .milliseconds(2), key: @escaping @Sendable (Entry) -> String,
         stamp: @escaping @Sendable (inout Entry) -> Void = { _ in },
         write: @escaping @Sendable ([Entry]) -> Result<[Output], AuditError>) {
        self.stamp = stamp
        self.maxBatch = maxBatch
        self.postDelay = postDelay
        highWater = maxBatch * 8
        self.key = key
        self.write = write
    }

    deinit { writer.stop() }

    /// Appends `entry`; returns when it is durable (or failed with its batch).
    func submit(_ entry: Entry) throws(AuditError) -> Output {
        try submit(all: [entry])[0]
    }

    /// Appends `entries` next to each other in the log (nothing queued between them), usually in
    /// one transaction; returns when all are durable (or failed with their batch).
    func submit(all entries: [Entry]) throws(AuditError) -> [Output] {
        let done = DispatchSemaphore(value: 0)
        let waiter = Waiter(count: entries.count, semaphore: done)
        if try enqueue(entries, waiter) { writer.execute { self.drain() } }
        done.wait()
        return try waiter.results.map { result throws(AuditError) in try result.get() }
    }

    /// The same without blocking a thread: the task suspends until its entries are durable.
    func submitAsync(all entries: [Entry]) async throws(AuditError) -> [Output] {
        let results = await withCheckedContinuation { continuation in
            let waiter = Waiter(count: entries.count, continuation: continuation)
            do throws(AuditError) {
                if try enqueue(entries, waiter) { writer.execute { self.drain() } }
            } catch {
                for index in entries.indices { waiter.deliver(.failure(error), at: index) }
            }
        }
        return try results.map { result throws(AuditError) in try result.get() }
    }

    /// Queues `entries` without waiting for them; they are durable with the next commit. Throws
    /// if their key is already lost. Waits for the commit (as `submit`) when the queue is full.
    func post(all entries: [Entry]) throws(AuditError) {
        let next = try state.withLockedValue { state -> Result<PostNext, AuditError> in
            if state.owners.count >= highWater { return .success(.wait) }
            do throws(AuditError) { try admit(entries, &state, waiter: nil) } catch { return .failure(error) }
            guard !state.writing, !state.kickScheduled else { return .success(.nothing) }
            state.kickScheduled = true
            return .success(.kick)
        }.get()
        switch next {
        case .nothing: return
        case .wait: _ = try submit(all: entries); return
        case .kick: break
        }
        writer.execute(after: postDelay) {
            let start = self.state.withLockedValue { state -> Bool in
                state.kickScheduled = false
                guard !state.writing, !state.queue.isEmpty else { return false }
                state.writing = true
                return true
            }
            if start { self.drain() }
        }
    }

    /// Returns once everything queued before the call has been written (or failed); starts a
    /// writer at once if posted entries are waiting for one.
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let start = state.withLockedValue { state -> Bool? in
                guard state.done < state.queued else { return nil }
                state.barriers.append((state.queued, continuation))
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            switch start {
            case nil: continuation.resume()
            case true?: writer.execute { self.drain() }
            case false?: break
            }
        }
    }

    /// Entries queued and not yet taken by a writer.
    var pending: Int { state.withLockedValue { $0.queue.count } }

    /// The failure that lost `key`'s posted entries, if any did.
    func lostFailure(_ key: String) -> AuditError? {
        state.withLockedValue { $0.lost[key] }
    }

    /// Queues the entries together; true if the caller must see to a writer.
    private func enqueue(_ entries: [Entry], _ waiter: Waiter) throws(AuditError) -> Bool {
        try state.withLockedValue { state -> Result<Bool, AuditError> in
            do throws(AuditError) { try admit(entries, &state, waiter: waiter) } catch { return .failure(error) }
            if state.writing { return .success(false) }
            state.writing = true
            return .success(true)
        }.get()
    }

    private func admit(_ entries: [Entry], _ state: inout State, waiter: Waiter?) throws(AuditError) {
        for entry in entries {
            let key = key(entry)
            if let failure = state.lost[key] {
                throw AuditError(.writeFailed, "an earlier event of \(key.isEmpty ? "the daemon" : "run \(key)") could not be written (\(failure.message)); nothing later of it is recorded, so nothing later of it may happen")
            }
        }
        for (index, entry) in entries.enumerated() {
            var entry = entry
            stamp(&entry)
            state.queue.append(entry)
            state.owners.append(Owner(waiter: waiter, index: index))
        }
        state.queued += UInt64(entries.count)
    }

    /// Writes batches until the queue is empty (on `writer`).
    private func drain() {
        while true {
            let (batch, owners) = state.withLockedValue { state -> ([Entry], [Owner]) in
                // No local copy of the buffers: one would make the removals below copy them whole.
                func waiter(at offset: Int) -> Waiter? { state.owners[offset].waiter }
                var count = min(maxBatch, state.owners.count)
                // A submission's entries stay in one transaction: they succeed or fail together.
                while count < state.owners.count, count > 0, let next = waiter(at: count), waiter(at: count - 1) === next { count += 1 }
                if count == 0 { state.writing = false }
                var batch: [Entry] = []
                var taken: [Owner] = []
                batch.reserveCapacity(count)
                taken.reserveCapacity(count)
                for _ in 0..<count {
                    batch.append(state.queue.removeFirst())
                    taken.append(state.owners.removeFirst())
                }
                return (batch, taken)
            }
            if batch.isEmpty { return }
            var failed: [Owner] = []
            switch write(batch) {
            case .success(let results):
                // Only what someone waits for is copied out; a posted entry's result is dropped.
                for position in owners.indices {
                    guard let waiter = owners[position].waiter else { continue }
                    waiter.deliver(position < results.count ? .success(results[position]) : .failure(noResult), at: owners[position].index)
                }
            case .failure(let error):
                for owner in owners { owner.waiter?.deliver(.failure(error), at: owner.index) }
                let lostKeys = Set(zip(batch, owners).filter { $0.1.waiter == nil }.map { key($0.0) })
                if !lostKeys.isEmpty {
                    // What is queued behind a lost entry of the same key must not be written after the gap.
                    failed = state.withLockedValue { state -> [Owner] in
                        for lostKey in lostKeys where state.lost[lostKey] == nil { state.lost[lostKey] = error }
                        var queue = Deque<Entry>(minimumCapacity: state.queue.count)
                        var kept = Deque<Owner>(minimumCapacity: state.owners.count)
                        var behind: [Owner] = []
                        while let entry = state.queue.popFirst(), let owner = state.owners.popFirst() {
                            if lostKeys.contains(key(entry)) { behind.append(owner) } else { queue.append(entry); kept.append(owner) }
                        }
                        (state.queue, state.owners) = (queue, kept)
                        return behind
                    }
                    for owner in failed { owner.waiter?.deliver(.failure(error), at: owner.index) }
                }
            }
            let released = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.done += UInt64(batch.count + failed.count)
                let done = state.done
                let due = state.barriers.filter { $0.upTo <= done }.map(\.continuation)
                state.barriers.removeAll { $0.upTo <= done }
                return due
            }
            for continuation in released { continuation.resume() }
        }
    }
}
