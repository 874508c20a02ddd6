import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization
import WardenCore
import WardenVocabulary

/// How soon an appended event is on disk: `durable` — before `append` returns (for what
/// authorises an action); `queued` — with the next commit, before anything appended after it.
public enum AuditDurability: Sendable {
    case durable
    case queued
}

/// Lets the group committer reach the log it writes for, without a retain cycle.
private final class WriterBox: @unchecked Sendable {
    // Written once, in AuditLog.init, before any append can run; read-only afterwards.
    weak var log: AuditLog?
}

/// The append-only, hash-chained audit log in SQLite.
///
/// Durability: WAL journal with `synchronous=FULL`, appends committed in groups (`GroupCommit`):
/// a `.durable` event is on disk when `append` returns, and callers append the event that
/// authorises an action before performing it. Events that authorise nothing are `.queued`: they ride in the
/// next commit, ahead of everything appended after them. Triggers refuse UPDATE and DELETE.
public final class AuditLog: Sendable {
    public let path: String
    let pool: DatabasePool
    /// The highest sequence number this process has seen in the log (opened or appended).
    /// `verify` reports a log that ends before it as truncated.
    let knownHead = Mutex<Int64>(0)
    /// Signs checkpoints; without one the log has none. Replaced only by a key rotation.
    let signerBox: Mutex<AuditSigner?>
    var signer: AuditSigner? { signerBox.withLock { $0 } }
    public var publicKey: AuditPublicKey? { signer?.publicKey }
    /// The new key of a rotation whose event is being written: it signs from that event on.
    let pendingRotation = Mutex<AuditSigner?>(nil)
    /// The key the log's last recorded rotation moved to (read at open, kept up to date).
    let rotatedTo = Mutex<AuditPublicKey?>(nil)
    /// A checkpoint is written at every multiple of this many events (and on `checkpointNow`).
    public let checkpointEvery: Int64
    /// The Merkle frontier over every event so far, and the last checkpoint written. Changed
    /// only inside write transactions, which SQLite serializes.
    /// Queues appends and commits them in groups.
    let committer: GroupCommit<Entry, AuditEvent>
    /// Copies the WAL into the database file off the writer's thread.
    let walCheckpointer: WALCheckpointer
    /// Told every event once it is durable (in order), e.g. to fire a scenario's injections.
    let observers = Mutex<(next: UInt64, handlers: [UInt64: @Sendable (AuditEvent) -> Void])>((0, [:]))
    let tree = Mutex<(frontier: Merkle.Frontier, lastHash: String, checkpoints: Int64, checkpointedCount: Int64)>(
        (Merkle.Frontier(), AuditChain.genesis, 0, 0))

    public convenience init(path: String, signer: AuditSigner? = nil, checkpointEvery: Int64 = 1000) throws(AuditError) {
        try self.init(path: path, signer: signer, checkpointEvery: checkpointEvery, walPages: (background: 1000, writer: 8000))
    }

    /// `walPages`: the background checkpoint's interval and the writer's own limit, in WAL pages
    /// (see `WALCheckpointer`).
    init(path: String, signer: AuditSigner?, checkpointEvery: Int64, walPages: (background: Int32, writer: Int32)) throws(AuditError) {
        self.path = path
        self.signerBox = Mutex(signer)
        self.checkpointEvery = max(1, checkpointEvery)
        let box = WriterBox()
        walCheckpointer = WALCheckpointer(path: path, backgroundEvery: walPages.background, writerLimit: walPages.writer)
        committer = GroupCommit(key: \.run, stamp: { $0.time = AuditClock.now() }) { entries in box.log?.writeBatch(entries) ?? .failure(AuditError(.writeFailed, "the audit log is closed")) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Readers (a run's events read back to judge it, queries, verification) keep a small page
        // cache each: the pool's readers together then hold a bounded few MiB, whichever of them
        // the reads happen to use.
        configuration.prepareDatabase { db in
            if db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -512") }
        }
        try Self.keepPrivate(path)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.makeDurable(pool)
            pool.writeWithoutTransaction { db in walCheckpointer.install(on: db) }
            try pool.write { db in try Self.migrate(db) }
            let head = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") } ?? 0
            knownHead.withLock { $0 = head }
            if signer != nil { try pool.read { db in try self.rebuildTree(db) } }
            box.log = self
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            // Never start a fresh log over an unreadable one: it may be the only evidence.
            throw AuditError(.notAWardenLog, "\(path) is not a readable Warden audit database (\(error.message ?? "damaged")). wardend will not write over it: move it aside, keep it as evidence, and start again for a fresh log.")
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
            throw AuditError(.openFailed, "the audit database \(path) is locked by another process (another wardend, or a tool holding a write lock); stop it and start again.")
        } catch {
            throw AuditError(.openFailed, "cannot open the audit database \(path): \(error). Check that the state directory is writable and that no other wardend uses it.")
        }
    }

    /// The log, its WAL and its shared-memory file are readable by wardend's user alone, whatever
    /// the umask and the state directory's mode: a new log is created 0600 before SQLite opens it
    /// (SQLite gives its WAL and shm files the database file's mode), and an existing one that
    /// others could read is refused, as the signing key is.
    static func keepPrivate(_ path: String) throws(AuditError) {
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard lstat(file, &info) == 0 else { continue }
            guard info.st_mode & S_IFMT == S_IFREG else { throw AuditError(.openFailed, "\(file) is not a regular file") }
            guard info.st_mode & 0o077 == 0 else {
                throw AuditError(.openFailed, "\(file) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): every event of every run "
                    + "is in it. Make it private (chmod 600 \(path) \(path)-wal \(path)-shm) and start again.")
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
        } else if errno != EEXIST {
            throw AuditError(.openFailed, "cannot create the audit database \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// `synchronous=FULL` on the writer connection, checked. It must be set after the pool is
    /// open: GRDB's DatabasePool sets NORMAL on its writer when it turns WAL on, after
    /// `prepareDatabase` has run — a commit is then synced only at checkpoints, and an event
    /// that "is on disk" could be lost with the machine (not with the process).
    static func makeDurable(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let mode = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard mode == 2 else { throw DatabaseError(message: "SQLite kept synchronous=\(mode.map(String.init) ?? "?") after PRAGMA synchronous = FULL") }
        }
    }

    /// The nice value of the log's writer thread (`WriterThread`): −10, or 0 where the process
    /// may not lower one (no CAP_SYS_NICE).
    public var writerNice: Int32 { committer.writerPriorityRaised ? WriterThread.raisedNice : 0 }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL: every commit is fsynced).
    public func writerSynchronousMode() throws(AuditError) -> Int {
        do { return try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } } catch {
            throw AuditError(.openFailed, "cannot read the audit database's sync mode: \(error)")
        }
    }

    private init(readOnlyPool pool: DatabasePool, path: String) {
        self.path = path
        self.pool = pool
        self.signerBox = Mutex(nil)
        self.checkpointEvery = 1000
        walCheckpointer = WALCheckpointer(path: path)
        committer = GroupCommit(key: \.run) { _ in .failure(AuditError(.writeFailed, "\(path) is open read-only")) }
    }

    /// Opens a database file for reading only (queries on a copy); refuses one that is not a
    /// Warden audit log.
    public static func openReadOnly(path: String) throws(AuditError) -> AuditLog {
        _ = try readOnly(path) { db in try AuditVerifier.requireWardenLog(db) }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            return AuditLog(readOnlyPool: try DatabasePool(path: path, configuration: configuration), path: path)
        } catch {
            throw AuditError(.readFailed, "cannot open the audit database \(path): \(error)")
        }
    }

    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY,
                run_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                kind TEXT NOT NULL,
                time TEXT NOT NULL,
                payload TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id, seq);
            CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
                BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
            CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
                BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
            CREATE TABLE IF NOT EXISTS checkpoints (
                number INTEGER PRIMARY KEY,
                event_count INTEGER NOT NULL,
                root TEXT NOT NULL,
                chain_head TEXT NOT NULL,
                frontier TEXT NOT NULL,
                time TEXT NOT NULL,
                key_id TEXT NOT NULL,
                signature TEXT NOT NULL
            );
            CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_update BEFORE UPDATE ON checkpoints
                BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_delete BEFORE DELETE ON checkpoints
                BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            """)
    }

    /// Appends `payload` as an event of `run` (and `agent`). With `.durable` it returns the event
    /// once it is on disk: concurrent appends are committed together (`GroupCommit`), one
    /// transaction and one fsync for all of them, each returning only when its own event is on
    /// disk — what authorises an action is appended so before the action. With `.queued` it
    /// returns nil at once: the event rides the next commit (another append's, or its own a
    /// moment later) and is durable before any event appended after it, so nothing done next
    /// can be in the log without it — for what authorises nothing (an outcome already reached, a
    /// reply the agent is about to get). A queued append throws only when an earlier queued event
    /// of the same run was lost (the run's later events are then refused, so the log has no gap
    /// in a run); that failure is also what the run's next durable append, or `flush(run:)`,
    /// throws.
    @discardableResult
    public func append<P: AuditPayload>(_ payload: P, run: String, agent: String = "", durability: AuditDurability) async throws(AuditError) -> AuditEvent? {
        try await append(kind: P.kind.rawValue, payload: try Self.encode(payload), run: run, agent: agent, durability: durability)
    }

    /// The synchronous twin of `append`, for a caller that must not suspend (the syscall
    /// supervisor's thread, a broker session that answers on its own loop): `.durable` blocks the
    /// calling thread until the event is on disk.
    @discardableResult
    public func appendNow<P: AuditPayload>(_ payload: P, run: String, agent: String = "", durability: AuditDurability) throws(AuditError) -> AuditEvent? {
        try appendNow(kind: P.kind.rawValue, payload: try Self.encode(payload), run: run, agent: agent, durability: durability)
    }

    /// Appends two events in one commit (one fsync), `second` right after `first`, with
    /// `second`'s `link` key set to `first`'s seq: an action's request and the decision on it,
    /// both durable before the action. Blocks the calling thread, as `appendNow` does.
    @discardableResult
    public func appendNow<A: AuditPayload, B: AuditPayload>(_ first: A, then second: B, linking link: String, run: String,
                                                            agent: String = "") throws(AuditError) -> (AuditEvent, AuditEvent) {
        BlockingPermit.check()
        let events = try committer.submit(all: [Entry(run: run, agent: agent, kind: A.kind.rawValue, payload: try Self.encode(first)),
                                                Entry(run: run, agent: agent, kind: B.kind.rawValue, payload: try Self.encode(second),
                                                      linksPrevious: link)])
        return (events[0], events[1])
    }

    /// `append` for a caller that cannot undo what already happened (a run ended, a client sent
    /// garbage): a failure is logged as an error, naming the event lost, instead of thrown.
    @discardableResult
    public func append<P: AuditPayload>(_ payload: P, run: String, agent: String = "", durability: AuditDurability,
                                        loggingFailuresTo logger: Logger) async -> AuditEvent? {
        do { return try await append(payload, run: run, agent: agent, durability: durability) } catch {
            logger.error("audit event lost", metadata: ["kind": "\(P.kind.rawValue)", "run": "\(run)", "error": "\(error)"])
            return nil
        }
    }

    /// `appendNow` for a caller that cannot undo what already happened; a failure is logged.
    @discardableResult
    public func appendNow<P: AuditPayload>(_ payload: P, run: String, agent: String = "", durability: AuditDurability,
                                           loggingFailuresTo logger: Logger) -> AuditEvent? {
        do { return try appendNow(payload, run: run, agent: agent, durability: durability) } catch {
            logger.error("audit event lost", metadata: ["kind": "\(P.kind.rawValue)", "run": "\(run)", "error": "\(error)"])
            return nil
        }
    }

    /// `append` for an event of any kind, its payload given as JSON: for tools and tests that
    /// write events outside the vocabulary. Wardend writes through the typed form.
    @discardableResult
    public func append(kind: String, payload: JSONValue, run: String, agent: String = "", durability: AuditDurability) async throws(AuditError) -> AuditEvent? {
        let entry = Entry(run: run, agent: agent, kind: kind, payload: payload)
        switch durability {
        case .durable: return try await committer.submitAsync(all: [entry])[0]
        case .queued:
            try committer.post(all: [entry])
            return nil
        }
    }

    /// `appendNow` for an event of any kind, its payload given as JSON.
    @discardableResult
    public func appendNow(kind: String, payload: JSONValue, run: String, agent: String = "", durability: AuditDurability) throws(AuditError) -> AuditEvent? {
        let entry = Entry(run: run, agent: agent, kind: kind, payload: payload)
        switch durability {
        case .durable:
            BlockingPermit.check()
            return try committer.submit(entry)
        case .queued:
            try committer.post(all: [entry])
            return nil
        }
    }

    static func encode<P: AuditPayload>(_ payload: P) throws(AuditError) -> JSONValue {
        do { return try payload.json() } catch {
            throw AuditError(.writeFailed, "cannot encode a \(P.kind.rawValue) event", cause: error)
        }
    }

    /// Returns once every event appended or posted before the call is written; throws if a
    /// posted event of `run` was lost.
    public func flush(run: String) async throws(AuditError) {
        await committer.flush()
        if let failure = committer.lostFailure(run) {
            throw AuditError(.writeFailed, "an event of run \(run) could not be written: \(failure.message)")
        }
    }

    struct Entry: Sendable {
        var run: String
        var agent: String
        var kind: String
        var payload: JSONValue
        /// A payload key set, when written, to the seq of the entry just before this one.
        var linksPrevious: String? = nil
        /// The payload's canonical text, made by the appender (in parallel with other appenders,
        /// not in the single writer) unless it can only be known at write time (a link).
        var payloadText: String?
        /// The Merkle leaf hash over all of the entry but its seq and time, begun by the
        /// appender likewise (nil with a link).
        var leafHead: PartialLeaf?
        /// When it was appended: set as it joins the queue (under its lock, so times follow the
        /// log's order), not when its batch is written — a posted event may wait for a commit.
        var time = ""

        init(run: String, agent: String, kind: String, payload: JSONValue, linksPrevious: String? = nil) {
            (self.run, self.agent, self.kind, self.payload, self.linksPrevious) = (run, agent, kind, payload, linksPrevious)
            guard linksPrevious == nil else { return }
            let text = payload.canonicalString
            payloadText = text
            leafHead = PartialLeaf(head: AuditChain.entryHead(run: run, agent: agent, kind: kind, payloadText: text))
        }
    }

    /// Writes a batch in one transaction; on failure nothing of it is stored.
    func writeBatch(_ entries: [Entry]) -> Result<[AuditEvent], AuditError> {
        do {
            let events = try pool.write { db in
                // Cached: the same two statements are prepared (parsed, authorized) once, not per batch.
                let tail = try db.cachedStatement(sql: "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
                var last = try Row.fetchOne(tail).map { row -> (Int64, String) in
                    (row["seq"], row["hash"])
                } ?? (0, AuditChain.genesis)
                var lastDigest = Digest32(AuditChain.hexBytes(last.1))
                var row = RowInsert(try db.cachedStatement(
                    sql: "INSERT INTO events (seq, run_id, agent, kind, time, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
                var entryTail: [UInt8] = []
                entryTail.reserveCapacity(128)
                var events: [AuditEvent] = []
                events.reserveCapacity(entries.count)
                // Through the buffer: the entries are read in place, not copied out one by one
                // (each copy retains every field).
                try entries.withUnsafeBufferPointer { entries in
                    for index in entries.indices {
                        let (event, digest) = try self.insert(db, &row, &entryTail, entries[index], after: last, lastDigest)
                        last = (event.seq, event.hash)
                        lastDigest = digest
                        events.append(event)
                    }
                }
                return events
            }
            if let head = events.last?.seq { knownHead.withLock { $0 = max($0, head) } }
            let handlers = observers.withLock { Array($0.handlers.values) }
            for event in events { for handler in handlers { handler(event) } }
            return .success(events)
        } catch {
            reloadTree()
            return .failure(AuditError(.writeFailed, "cannot append to the audit log \(path): \(error)"))
        }
    }

    /// Writes one event after `last` (whose hash is `lastDigest`); the event and its hash.
    func insert(_ db: Database, _ row: inout RowInsert, _ tail: inout [UInt8], _ entry: borrowing Entry, after last: (seq: Int64, hash: String),
                        _ lastDigest: Digest32) throws -> (AuditEvent, Digest32) {
        let seq = last.seq + 1
        let time = entry.time
        // The entry is read in place (a copy would retain each of its fields).
        var payload = entry.payload
        if let link = entry.linksPrevious, case .object(var fields) = payload {
            fields[link] = .int(last.seq)
            payload = .object(fields)
        }
        let payloadText = entry.payloadText ?? payload.canonicalString
        let leaf: Digest32
        if let head = entry.leafHead {
            tail.removeAll(keepingCapacity: true)
            AuditChain.appendEntryTail(seq: seq, time: time, to: &tail)
            leaf = tail.withUnsafeBytes { head.finish(tail: $0) }
        } else {
            let bytes = AuditChain.entryBytes(seq: seq, run: entry.run, agent: entry.agent, kind: entry.kind, time: time, payloadText: payloadText)
            leaf = bytes.withUnsafeBytes { StackSHA256.leaf($0) }
        }
        let digest = StackSHA256.link(lastDigest, leaf)
        let hash = digest.hex
        row.text(entry.run)
        row.text(entry.agent)
        row.text(entry.kind)
        row.text(time)
        row.text(payloadText)
        row.text(last.hash)
        row.text(hash)
        try row.insert(key: seq, in: db)
        let event = AuditEvent(seq: seq, run: entry.run, agent: entry.agent, kind: entry.kind, time: time, payload: payload,
                               prevHash: last.hash, hash: hash)
        try extendTree(db, event: event, leaf: leaf)
        return (event, digest)
    }

    /// Waits for a background WAL checkpoint in progress (tests; `checkpoint()` does it too).
    func waitForWALCheckpoint() { walCheckpointer.stop() }

    /// Moves the WAL into the database file and truncates it (on a clean stop).
    public func checkpoint() {
        walCheckpointer.stop()
        _ = try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
