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

/// Which events to read; nil fields match everything.
public struct AuditFilter: Sendable, Equatable {
    public var run: String?
    public var agent: String?
    public var kind: String?
    public var tool: String?
    /// `syscall` events of this syscall.
    public var syscall: String?
    /// Times (RFC 3339, UTC; a date alone is its midnight), inclusive.
    public var since: String?
    public var until: String?
    /// Text that appears anywhere in the payload's canonical JSON.
    public var text: String?

    public init(run: String? = nil, agent: String? = nil, kind: String? = nil, tool: String? = nil, syscall: String? = nil,
                since: String? = nil, until: String? = nil, text: String? = nil) {
        self.run = run
        self.agent = agent
        self.kind = kind
        self.tool = tool
        self.syscall = syscall
        self.since = since
        self.until = until
        self.text = text
    }

    /// The filter's fields as control-API parameters (and back, with `init(params:)`).
    public var params: [String: JSONValue] {
        var params: [String: JSONValue] = [:]
        for (key, value) in [("run", run), ("agent", agent), ("kind", kind), ("tool", tool), ("syscall", syscall), ("since", since),
                             ("until", until), ("text", text)] {
            if let value { params[key] = .string(value) }
        }
        return params
    }

    public init(params: JSONValue) {
        self.init(run: params["run"]?.stringValue, agent: params["agent"]?.stringValue, kind: params["kind"]?.stringValue,
                  tool: params["tool"]?.stringValue, syscall: params["syscall"]?.stringValue, since: params["since"]?.stringValue,
                  until: params["until"]?.stringValue, text: params["text"]?.stringValue)
    }
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
    private let pool: DatabasePool
    /// The highest sequence number this process has seen in the log (opened or appended).
    /// `verify` reports a log that ends before it as truncated.
    private let knownHead = Mutex<Int64>(0)
    /// Signs checkpoints; without one the log has none. Replaced only by a key rotation.
    private let signerBox: Mutex<AuditSigner?>
    var signer: AuditSigner? { signerBox.withLock { $0 } }
    public var publicKey: AuditPublicKey? { signer?.publicKey }
    /// The new key of a rotation whose event is being written: it signs from that event on.
    private let pendingRotation = Mutex<AuditSigner?>(nil)
    /// The key the log's last recorded rotation moved to (read at open, kept up to date).
    private let rotatedTo = Mutex<AuditPublicKey?>(nil)
    /// A checkpoint is written at every multiple of this many events (and on `checkpointNow`).
    public let checkpointEvery: Int64
    /// The Merkle frontier over every event so far, and the last checkpoint written. Changed
    /// only inside write transactions, which SQLite serializes.
    /// Queues appends and commits them in groups.
    private let committer: GroupCommit<Entry, AuditEvent>
    /// Copies the WAL into the database file off the writer's thread.
    private let walCheckpointer: WALCheckpointer
    /// Told every event once it is durable (in order), e.g. to fire a scenario's injections.
    private let observers = Mutex<(next: UInt64, handlers: [UInt64: @Sendable (AuditEvent) -> Void])>((0, [:]))
    private let tree = Mutex<(frontier: Merkle.Frontier, lastHash: String, checkpoints: Int64, checkpointedCount: Int64)>(
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

    /// Recomputes the Merkle frontier from the stored events (at open).
    private func rebuildTree(_ db: Database) throws {
        var frontier = Merkle.Frontier()
        var lastHash = AuditChain.genesis
        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, run_id, agent, kind, time, payload, hash FROM events ORDER BY seq")
        var rotated: AuditPublicKey?
        while let row = try cursor.next() {
            let kind: String = row["kind"]
            let payloadText: String = row["payload"]
            frontier.append(Merkle.leafHash(AuditChain.entryBytes(seq: row["seq"], run: row["run_id"], agent: row["agent"],
                                                                  kind: kind, time: row["time"], payloadText: payloadText)))
            lastHash = row["hash"]
            if kind == AuditKind.keyRotated.rawValue, let hex = (try? JSONValue.parse(payloadText))?["new_key"]?.stringValue {
                rotated = try? AuditPublicKey(hex: hex)
            }
        }
        rotatedTo.withLock { $0 = rotated }
        let last = try Row.fetchOne(db, sql: "SELECT number, event_count FROM checkpoints ORDER BY number DESC LIMIT 1")
        tree.withLock { $0 = (frontier, lastHash, last?["number"] ?? 0, last?["event_count"] ?? 0) }
    }

    /// Appends a leaf for the event just inserted, and a signed checkpoint when one is due.
    private func extendTree(_ db: Database, event: AuditEvent, leaf: Digest32) throws {
        // A rotation's event is the first the new key covers: it signs from here on.
        if event.kind == AuditKind.keyRotated.rawValue, let pending = pendingRotation.withLock({ $0 }),
           event.payload["new_key"]?.stringValue == pending.publicKey.hex {
            signerBox.withLock { $0 = pending }
            pendingRotation.withLock { $0 = nil }
            rotatedTo.withLock { $0 = pending.publicKey }
        }
        guard let signer else { return }
        let due = tree.withLock { state -> Bool in
            state.frontier.append(leaf)
            state.lastHash = event.hash
            return Int64(state.frontier.count) % checkpointEvery == 0
        }
        if due { try writeCheckpoint(db, signer: signer) }
    }

    /// The key the log's last recorded rotation moved to, if it has one: at start, wardend's key
    /// must be this one (or it finishes a rotation a stop interrupted).
    public var lastRotatedKey: AuditPublicKey? { rotatedTo.withLock { $0 } }

    /// Takes `signer` as the checkpoint key, at start, when the log's last rotation names it.
    public func adopt(_ signer: AuditSigner) throws(AuditError) {
        guard lastRotatedKey == signer.publicKey else {
            throw AuditError(.key, "key \(signer.publicKey.id) is not the key the log's last rotation moved to (\(lastRotatedKey?.id ?? "none"))")
        }
        signerBox.withLock { $0 = signer }
    }

    /// Replaces the checkpoint-signing key with `new`: a checkpoint under the old key first, then
    /// the `audit.key_rotated` event (signed by both, durable), from which the new key signs;
    /// then a checkpoint under the new key. Returns the rotation's event. The caller keeps the
    /// new private key where the next start finds it (`AuditSigner.pendingKeyFile`) before calling.
    public func rotateKey(to new: AuditSigner) async throws(AuditError) -> AuditEvent {
        guard let old = signer else { throw AuditError(.key, "this log signs no checkpoints; there is no key to rotate") }
        guard old.publicKey != new.publicKey else { throw AuditError(.key, "the new key is the key in use") }
        try checkpointNow()
        pendingRotation.withLock { $0 = new }
        let written: AuditEvent?
        do throws(AuditError) {
            let head = tree.withLock { state in (Int64(state.frontier.count), state.lastHash) }
            let after = head.0 > 0 ? KeyRotated.After(seq: head.0, hash: head.1) : nil
            written = try await append(KeyRotation.payload(old: old, new: new, time: AuditClock.now(), after: after), run: "", durability: .durable)
        } catch {
            pendingRotation.withLock { $0 = nil }
            signerBox.withLock { if $0?.publicKey == new.publicKey { $0 = old } }
            throw error
        }
        guard let event = written, signer?.publicKey == new.publicKey else {
            throw AuditError(.key, "the rotation event was written but the new key did not take over; restart wardend")
        }
        try checkpointNow()
        return event
    }

    private func writeCheckpoint(_ db: Database, signer: AuditSigner) throws {
        let checkpoint = tree.withLock { state -> AuditCheckpoint? in
            guard Int64(state.frontier.count) > state.checkpointedCount else { return nil }
            var checkpoint = AuditCheckpoint(number: state.checkpoints + 1, eventCount: Int64(state.frontier.count),
                                             root: state.frontier.root.hex, chainHead: state.lastHash,
                                             frontier: state.frontier.encoded, time: AuditClock.now(),
                                             keyID: signer.publicKey.id, signature: "")
            checkpoint.signature = signer.sign(checkpoint.signedMessage).hex
            state.checkpoints = checkpoint.number
            state.checkpointedCount = checkpoint.eventCount
            return checkpoint
        }
        guard let checkpoint else { return }
        try db.execute(sql: """
            INSERT INTO checkpoints (number, event_count, root, chain_head, frontier, time, key_id, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [checkpoint.number, checkpoint.eventCount, checkpoint.root, checkpoint.chainHead,
                             JSONValue.array(checkpoint.frontier.map { .string($0) }).canonicalString, checkpoint.time,
                             checkpoint.keyID, checkpoint.signature])
    }

    /// Writes a checkpoint now if events arrived since the last one (the daemon calls this
    /// every few seconds and when it stops).
    public func checkpointNow() throws(AuditError) {
        guard let signer else { return }
        do {
            try pool.write { db in try self.writeCheckpoint(db, signer: signer) }
        } catch {
            reloadTree()
            throw AuditError(.writeFailed, "cannot write a checkpoint to \(path): \(error)")
        }
    }

    /// After a failed write the in-memory tree may be ahead of the database: read it again.
    private func reloadTree() {
        guard signer != nil else { return }
        try? pool.read { db in try self.rebuildTree(db) }
    }

    /// Checkpoints in order.
    public func checkpoints() throws(AuditError) -> [AuditCheckpoint] {
        do { return try pool.read { db in try Self.checkpoints(db) } } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    static func checkpoints(_ db: Database) throws -> [AuditCheckpoint] {
        try Row.fetchAll(db, sql: "SELECT * FROM checkpoints ORDER BY number").map { row in
            let frontierText: String = row["frontier"]
            return AuditCheckpoint(number: row["number"], eventCount: row["event_count"], root: row["root"], chainHead: row["chain_head"],
                                   frontier: (try? JSONValue.parse(frontierText))?.arrayValue?.compactMap(\.stringValue) ?? [],
                                   time: row["time"], keyID: row["key_id"], signature: row["signature"])
        }
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

    /// Calls `handler` with every event appended from now on, after it is durable. Handlers run
    /// on the writer's thread and must only hand the event on.
    public func observe(_ handler: @escaping @Sendable (AuditEvent) -> Void) -> UInt64 {
        observers.withLock { state in
            state.next += 1
            state.handlers[state.next] = handler
            return state.next
        }
    }

    /// How many observers are registered (each run holds one while it goes; `status` shows it,
    /// so a leak shows up).
    public var observerCount: Int { observers.withLock { $0.handlers.count } }

    /// Heap memory SQLite holds in this process (page caches of every connection, statements):
    /// bounded by the cache sizes, and shown by `status` so growth can be told apart from a leak.
    public static var sqliteMemoryBytes: Int64 { sqlite3_memory_used() }

    public func stopObserving(_ token: UInt64) {
        _ = observers.withLock { $0.handlers.removeValue(forKey: token) }
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
    private func writeBatch(_ entries: [Entry]) -> Result<[AuditEvent], AuditError> {
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
    private func insert(_ db: Database, _ row: inout RowInsert, _ tail: inout [UInt8], _ entry: borrowing Entry, after last: (seq: Int64, hash: String),
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

    /// Events in sequence order, optionally of one run, after `afterSeq`.
    public func events(run: String? = nil, afterSeq: Int64 = 0, limit: Int = 10_000) throws(AuditError) -> [AuditEvent] {
        do {
            return try pool.read { db in
                let rows: [Row]
                if let run {
                    rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
                                            arguments: [run, afterSeq, limit])
                } else {
                    rows = try Row.fetchAll(db, sql: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                            arguments: [afterSeq, limit])
                }
                return rows.map(Self.event(from:))
            }
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    static func event(from row: Row) -> AuditEvent {
        let payloadText: String = row["payload"]
        let payload = (try? JSONValue.parse(payloadText)) ?? .string(payloadText)
        return AuditEvent(seq: row["seq"], run: row["run_id"], agent: row["agent"], kind: row["kind"], time: row["time"],
                          payload: payload, prevHash: row["prev_hash"], hash: row["hash"])
    }

    /// Events matching every given field, in sequence order. `kind` ending in `.` matches a
    /// family (`model.`); `tool` matches the payload's `tool`.
    public func events(matching filter: AuditFilter, afterSeq: Int64 = 0, limit: Int = 10_000) throws(AuditError) -> [AuditEvent] {
        var clauses = ["seq > ?"]
        var arguments: [any DatabaseValueConvertible] = [afterSeq]
        if let run = filter.run { clauses.append("run_id = ?"); arguments.append(run) }
        if let agent = filter.agent { clauses.append("agent = ?"); arguments.append(agent) }
        if let kind = filter.kind {
            if kind.hasSuffix(".") { clauses.append("kind LIKE ? ESCAPE '\\'"); arguments.append(kind.replacingOccurrences(of: "_", with: "\\_") + "%") }
            else { clauses.append("kind = ?"); arguments.append(kind) }
        }
        if let tool = filter.tool { clauses.append("json_extract(payload, '$.tool') = ?"); arguments.append(tool) }
        if let syscall = filter.syscall {
            clauses.append("kind = 'syscall' AND json_extract(payload, '$.syscall') = ?")
            arguments.append(syscall)
        }
        // Stored times end in "Z"; without it a bound compares correctly against fractions.
        if let since = filter.since { clauses.append("time >= ?"); arguments.append(since.hasSuffix("Z") ? String(since.dropLast()) : since) }
        if let until = filter.until { clauses.append("time <= ?"); arguments.append(until.hasSuffix("Z") ? String(until.dropLast()) + "~" : until + "~") }
        if let text = filter.text { clauses.append("instr(payload, ?) > 0"); arguments.append(text) }
        arguments.append(limit)
        let sql = "SELECT * FROM events WHERE \(clauses.joined(separator: " AND ")) ORDER BY seq LIMIT ?"
        do {
            return try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.event(from:)) }
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    /// The number of events and the bytes the database takes on disk (with its WAL).
    public func size() -> (events: Int64, bytes: Int64) {
        let events = knownHead.withLock { $0 }
        let bytes = [path, path + "-wal"].reduce(Int64(0)) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0)
        }
        return (events, bytes)
    }

    /// Waits for a background WAL checkpoint in progress (tests; `checkpoint()` does it too).
    func waitForWALCheckpoint() { walCheckpointer.stop() }

    /// Moves the WAL into the database file and truncates it (on a clean stop).
    public func checkpoint() {
        walCheckpointer.stop()
        _ = try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Runs that started but never ended: what a crash of the daemon leaves behind.
    public func unfinishedRuns() throws(AuditError) -> [String] {
        do {
            return try pool.read { db in
                try String.fetchAll(db, sql: """
                    SELECT run_id FROM events WHERE kind = 'run.start'
                      AND run_id NOT IN (SELECT run_id FROM events WHERE kind = 'run.end') ORDER BY seq
                    """)
            }
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Recomputes the chain, the checkpoints' roots and signatures (all of the log, from
    /// checkpoint `fromCheckpoint`, or one run's events); see `AuditVerifier`.
    public func verify(run: String? = nil, fromCheckpoint: Int64? = nil) throws(AuditError) -> AuditVerification {
        let head = knownHead.withLock { $0 }
        let key = signer?.publicKey
        do {
            if run == nil, fromCheckpoint == nil {
                let pool = self.pool
                return try AuditVerifier.verifyInParallel(expectedHead: head, publicKey: key, read: { body in try pool.read(body) },
                                                          checkpoints: try pool.read { db in try Self.checkpoints(db) })
            }
            return try pool.read { db in
                if let run { return try AuditVerifier.verifyRun(db, run: run) }
                return try AuditVerifier.verify(db, expectedHead: head, publicKey: key, fromCheckpoint: fromCheckpoint)
            }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Verifies a database file without a running daemon (a copy on another machine). The
    /// public key is `publicKey`, else `audit-signing.pub` next to the file, if there.
    public static func verify(fileAt path: String, publicKey: AuditPublicKey? = nil, run: String? = nil,
                              fromCheckpoint: Int64? = nil) throws(AuditError) -> AuditVerification {
        try verify(fileAt: path, publicKey: publicKey, run: run, fromCheckpoint: fromCheckpoint, parallelFrom: 100_000)
    }

    /// `parallelFrom`: logs with at least this many checkpointed events are checked on two cores.
    static func verify(fileAt path: String, publicKey: AuditPublicKey?, run: String?, fromCheckpoint: Int64?,
                       parallelFrom: Int64) throws(AuditError) -> AuditVerification {
        let key = try publicKeyBeside(path, given: publicKey)
        if run == nil, fromCheckpoint == nil {
            let checkpoints = try readOnly(path) { db -> [AuditCheckpoint] in
                try AuditVerifier.requireWardenLog(db)
                return try AuditLog.checkpoints(db)
            }
            do {
                return try AuditVerifier.verifyInParallel(expectedHead: 0, publicKey: key, read: { body in try readOnly(path, body) },
                                                          checkpoints: checkpoints, parallelFrom: parallelFrom)
            } catch let error as AuditError {
                throw error
            } catch {
                throw AuditError(.readFailed, "cannot read the audit database \(path): \(error)")
            }
        }
        return try readOnly(path) { db in
            if let run { return try AuditVerifier.verifyRun(db, run: run) }
            return try AuditVerifier.verify(db, expectedHead: 0, publicKey: key, fromCheckpoint: fromCheckpoint)
        }
    }

    static func publicKeyBeside(_ path: String, given: AuditPublicKey? = nil) throws(AuditError) -> AuditPublicKey? {
        if let given { return given }
        let beside = (path as NSString).deletingLastPathComponent + "/" + AuditSigner.publicKeyFile
        guard FileManager.default.fileExists(atPath: beside) else { return nil }
        return try AuditPublicKey.load(beside)
    }

    /// Runs `body` on a read-only connection to the file at `path`, turning SQLite's complaints
    /// about files that are not (whole) databases into errors that say so.
    static func readOnly<T>(_ path: String, _ body: (Database) throws -> T) throws(AuditError) -> T {
        guard FileManager.default.fileExists(atPath: path) else { throw AuditError(.readFailed, "\(path) does not exist") }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            // Two readers at once (a parallel check), or a live daemon writing: wait, don't fail.
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in try body(db) }
        } catch let error as AuditError where error.code == .notAWardenLog {
            throw AuditError(.notAWardenLog, "\(path) is not a Warden audit database: \(error.message)")
        } catch let error as AuditError {
            throw error
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            throw AuditError(.notAWardenLog, "\(path) is not a Warden audit database, or is truncated or damaged: \(error.message ?? "\(error)")")
        } catch {
            throw AuditError(.readFailed, "cannot read the audit database \(path): \(error)")
        }
    }

    /// An inclusion proof of event `seq` against the latest checkpoint that covers it.
    public func proof(seq: Int64) throws(AuditError) -> JSONValue {
        let key = signer?.publicKey
        do {
            return try pool.read { db in try AuditProof.make(db, seq: seq, publicKey: key) }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    public static func proof(fileAt path: String, seq: Int64, publicKey: AuditPublicKey? = nil) throws(AuditError) -> JSONValue {
        let key = try publicKeyBeside(path, given: publicKey)
        return try readOnly(path) { db in try AuditProof.make(db, seq: seq, publicKey: key) }
    }
}
