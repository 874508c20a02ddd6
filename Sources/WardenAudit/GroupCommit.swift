import Dispatch
import Synchronization

/// Group commit: appenders queue their entries; the first to find no writer at work becomes
/// the writer, takes everything queued, writes it in one transaction (one fsync), hands each
/// appender its durable event, and goes on until the queue is empty. Every append still returns
/// only once its event is on disk — the write-ahead rule holds — but under load one fsync
/// serves many events.
final class GroupCommit<Entry: Sendable, Output: Sendable>: Sendable {
    /// Where one appender waits for its result.
    private final class Slot: Sendable {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<Output, AuditError>?>(nil)
    }

    private let state = Mutex<(queue: [(Entry, Slot)], writing: Bool)>(([], false))
    /// Writes a batch in one transaction, returning one result per entry, in order.
    private let write: @Sendable ([Entry]) -> Result<[Output], AuditError>
    /// At most this many entries per transaction (bounded memory and latency).
    let maxBatch: Int

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
        let slots = entries.map { _ in Slot() }
        let lead = state.withLock { state -> Bool in
            state.queue.append(contentsOf: zip(entries, slots).map { ($0, $1) })
            if state.writing { return false }
            state.writing = true
            return true
        }
        if lead { drain() }
        var outputs: [Output] = []
        for slot in slots {
            slot.done.wait()
            guard let result = slot.result.withLock({ $0 }) else { throw AuditError(.writeFailed, "the audit writer gave no result") }
            outputs.append(try result.get())
        }
        return outputs
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [(Entry, Slot)] in
                let taken = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(taken.count)
                if taken.isEmpty { state.writing = false }
                return taken
            }
            if batch.isEmpty { return }
            switch write(batch.map(\.0)) {
            case .success(let results):
                for ((_, slot), result) in zip(batch, results) {
                    slot.result.withLock { $0 = .success(result) }
                    slot.done.signal()
                }
            case .failure(let error):
                for (_, slot) in batch {
                    slot.result.withLock { $0 = .failure(error) }
                    slot.done.signal()
                }
            }
        }
    }
}
