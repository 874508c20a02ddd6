import Dispatch
import Foundation
import GRDB
import Synchronization
import WardenCore

/// The result of checking the log: intact, or the first event or checkpoint that does not match.
public struct AuditVerification: Sendable, Equatable, Codable {
    public var ok: Bool
    public var events: Int64
    public var lastHash: String
    /// Checkpoints whose root, chain head and signature were checked.
    public var checkpoints: Int64 = 0
    /// The first bad event's sequence number, and what is wrong with it.
    public var firstBadSeq: Int64?
    /// The first bad checkpoint's number.
    public var firstBadCheckpoint: Int64?
    public var problem: String?

    enum CodingKeys: String, CodingKey {
        case ok, events, checkpoints
        case lastHash = "last_hash"
        case firstBadSeq = "first_bad_seq"
        case firstBadCheckpoint = "first_bad_checkpoint"
        case problem
    }
}

/// Walks the log in sequence order and recomputes every hash, the Merkle root at every
/// checkpoint, and every checkpoint's signature. Removal shows as a gap in the sequence,
/// alteration as a hash that does not match the row, insertion or reordering as a broken link
/// (`prev_hash`) or a hash mismatch; a truncated tail as a signed checkpoint that covers more
/// events than the log holds (or, while the daemon runs, a log ending before its head).
enum AuditVerifier {

    /// `stopAtCount`: verify only events up to this count (the first half of a parallel check).
    static func verify(_ db: Database, expectedHead: Int64, publicKey: AuditPublicKey?, fromCheckpoint: Int64? = nil,
                       stopAtCount: Int64? = nil) throws -> AuditVerification
    {
        try requireWardenLog(db)
        let checkpoints = try AuditLog.checkpoints(db)
        func bad(_ seq: Int64?, checkpoint: Int64? = nil, _ problem: String) -> AuditVerification {
            AuditVerification(ok: false, events: 0, lastHash: AuditChain.genesis, checkpoints: 0, firstBadSeq: seq,
                              firstBadCheckpoint: checkpoint, problem: problem)
        }
        if !checkpoints.isEmpty, publicKey == nil {
            return bad(nil, "the log has signed checkpoints but no public key was given to check them (audit-signing.pub, or --pubkey)")
        }
        for (index, checkpoint) in checkpoints.enumerated() where checkpoint.number != Int64(index + 1) {
            return bad(nil, checkpoint: Int64(index + 1), "checkpoint \(index + 1) is missing (removed); the next stored is \(checkpoint.number)")
        }
        let keys: KeyTimeline?
        switch try KeyTimeline.read(db, anchor: publicKey) {
        case .success(let timeline): keys = timeline
        case .failure(let error): return bad(nil, error.message)
        }
        // A key a rotation brought in vouches for the log only through a checkpoint it signed
        // (checked below like every other) that covers the rotation.
        if let keys, keys.anchorFrom > 0, !checkpoints.contains(where: { $0.eventCount >= keys.anchorFrom }) {
            return bad(keys.anchorFrom, "the trusted key \(publicKey?.id ?? "") took over at event \(keys.anchorFrom), but no checkpoint covers that event: nothing it signed vouches for the log")
        }
        var walk = ChainCheck(checkpoints: checkpoints, keys: keys, stopAtCount: stopAtCount)
        if let fromCheckpoint {
            guard fromCheckpoint >= 1, fromCheckpoint <= Int64(checkpoints.count) else {
                return bad(nil, "there is no checkpoint \(fromCheckpoint) (the log has \(checkpoints.count))")
            }
            let start = checkpoints[Int(fromCheckpoint) - 1]
            let key = keys?.key(forCount: start.eventCount)
            guard let key, start.isSigned(by: key) else {
                return bad(nil, checkpoint: start.number, "checkpoint \(start.number) does not carry a valid signature by key \(key?.id ?? "-")")
            }
            guard let resumed = Merkle.Frontier(encoded: start.frontier, count: Int(start.eventCount)), resumed.root.hex == start.root else {
                return bad(nil, checkpoint: start.number, "checkpoint \(start.number)'s frontier does not give its root")
            }
            walk.resume(at: start, frontier: resumed)
        }

        // Each row's leaf is hashed while the row before it is settled (its chain link, its
        // Merkle nodes, the checkpoints it completes): the two run through the SHA unit together
        // (see `PairedSHA256`). The row before is settled first, as if this one had not been
        // read, so the first problem found is the first in the log.
        var rows = try EventCursor(db, from: walk.expectedSeq)
        var leafInput = LeafInput()
        var pending: PendingEvent?
        while let row = try rows.next() {
            leafInput.write(row)
            walk.hasher.beginLong(padded: leafInput.padded, length: leafInput.length)
            if let event = pending {
                pending = nil
                guard walk.settle(event) else { break }
            }
            let leaf = walk.hasher.finishLong()
            guard walk.admit(row) else { break }
            pending = PendingEvent(seq: row.seq, leaf: leaf, storedHash: StoredHash(row.hash))
        }
        if let event = pending { _ = walk.settle(event) }
        if let failure = walk.failure { return failure }

        if let stopAtCount, walk.count >= stopAtCount { return walk.passed }
        if walk.nextCheckpoint < checkpoints.count {
            let checkpoint = checkpoints[walk.nextCheckpoint]
            if let key = keys?.key(forCount: checkpoint.eventCount), checkpoint.isSigned(by: key) {
                return walk.bad(walk.count + 1, checkpoint: checkpoint.number,
                                "the log ends at event \(walk.count) but signed checkpoint \(checkpoint.number) covers \(checkpoint.eventCount) events (truncated)")
            }
            return walk.bad(nil, checkpoint: checkpoint.number, "checkpoint \(checkpoint.number) covers \(checkpoint.eventCount) events, more than the log holds, and its signature is not valid (altered)")
        }
        if expectedHead > walk.count {
            return walk.bad(walk.count + 1, "the log ends at event \(walk.count) but the daemon wrote events up to \(expectedHead) (truncated)")
        }
        return walk.passed
    }

    /// The same check on two cores: events up to a checkpoint near the middle from the start,
    /// the rest from that checkpoint's signed frontier and chain head (trusted because the first
    /// half recomputes its root from the events, and its signature is checked). `read` runs its
    /// body on a read connection of its own; both halves run at once.
    static func verifyInParallel(expectedHead: Int64, publicKey: AuditPublicKey?,
                                 read: @escaping @Sendable (@Sendable (Database) throws -> AuditVerification) throws -> AuditVerification,
                                 checkpoints: [AuditCheckpoint], parallelFrom: Int64 = 100_000) throws -> AuditVerification {
        guard publicKey != nil, let last = checkpoints.last, last.eventCount >= parallelFrom, checkpoints.count >= 2 else {
            return try read { db in try verify(db, expectedHead: expectedHead, publicKey: publicKey) }
        }
        let middle = checkpoints.min { abs($0.eventCount * 2 - last.eventCount) < abs($1.eventCount * 2 - last.eventCount) } ?? last
        let first = Mutex<Result<AuditVerification, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            first.withLock { $0 = Result { try read { db in try verify(db, expectedHead: 0, publicKey: publicKey, stopAtCount: middle.eventCount) } } }
            done.signal()
        }.start()
        let second = try read { db in try verify(db, expectedHead: expectedHead, publicKey: publicKey, fromCheckpoint: middle.number) }
        done.wait()
        guard let head = first.withLock({ $0 }) else { throw AuditError(.readFailed, "the first half of the check did not finish") }
        let firstHalf = try head.get()
        if !firstHalf.ok { return firstHalf }
        if !second.ok { return second }
        var combined = second
        combined.checkpoints = firstHalf.checkpoints + second.checkpoints - 1  // the middle one is in both
        return combined
    }

    static func problem(with checkpoint: AuditCheckpoint, root: String, head: String, key: AuditPublicKey?) -> String? {
        guard let key, checkpoint.isSigned(by: key) else {
            return "checkpoint \(checkpoint.number) does not carry a valid signature by key \(key?.id ?? "-") (altered or re-signed)"
        }
        if checkpoint.root != root { return "checkpoint \(checkpoint.number)'s Merkle root does not match events 1–\(checkpoint.eventCount)" }
        if checkpoint.chainHead != head { return "checkpoint \(checkpoint.number)'s chain head does not match event \(checkpoint.eventCount)" }
        return nil
    }

    /// One run's events, each checked against its own stored link and both neighbours: finds
    /// an altered, removed or inserted event of the run without reading the whole log.
    static func verifyRun(_ db: Database, run: String) throws -> AuditVerification {
        try requireWardenLog(db)
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? ORDER BY seq", arguments: [run])
        var lastHash = ""
        for (index, row) in rows.enumerated() {
            let seq: Int64 = row["seq"]
            func bad(_ problem: String) -> AuditVerification {
                AuditVerification(ok: false, events: Int64(index), lastHash: lastHash, firstBadSeq: seq, problem: problem)
            }
            let payloadText: String = row["payload"]
            guard let payload = try? JSONValue.parse(payloadText) else { return bad("event \(seq) has a payload that is not valid JSON (altered)") }
            let storedPrev: String = row["prev_hash"]
            let storedHash: String = row["hash"]
            let hash = AuditChain.hash(prev: storedPrev, seq: seq, run: row["run_id"], agent: row["agent"], kind: row["kind"],
                                       time: row["time"], payload: payload)
            if hash != storedHash || payload.canonicalString != payloadText { return bad("event \(seq) does not match its hash (altered or inserted)") }
            let before = seq == 1 ? AuditChain.genesis : try String.fetchOne(db, sql: "SELECT hash FROM events WHERE seq = ?", arguments: [seq - 1])
            if before != storedPrev { return bad("event \(seq) does not link to event \(seq - 1) (removed, inserted or reordered)") }
            if let after = try String.fetchOne(db, sql: "SELECT prev_hash FROM events WHERE seq = ?", arguments: [seq + 1]), after != storedHash {
                return bad("event \(seq + 1) does not link to event \(seq) (removed, inserted or reordered)")
            }
            lastHash = storedHash
        }
        guard !rows.isEmpty else {
            return AuditVerification(ok: false, events: 0, lastHash: "", problem: "the log has no events of run \(run)")
        }
        return AuditVerification(ok: true, events: Int64(rows.count), lastHash: lastHash)
    }

    /// Refuses a database that is not a Warden audit log, with words a person can act on.
    static func requireWardenLog(_ db: Database) throws {
        let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(events)").map { $0["name"] as String }
        for needed in ["seq", "run_id", "agent", "kind", "time", "payload", "prev_hash", "hash"] where !columns.contains(needed) {
            throw AuditError(.notAWardenLog, columns.isEmpty
                ? "it has no `events` table (a copy of a live database needs its -wal file beside it; `sqlite3 audit.db \".backup copy.db\"` makes a whole one)"
                : "its `events` table has no `\(needed)` column")
        }
    }
}
