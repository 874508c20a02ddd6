import Foundation
import GRDB
import Synchronization
import WardenCore

/// The append-only, hash-chained audit log in SQLite.
///
/// Durability: WAL journal with `synchronous=FULL`, one transaction per append, so an event
/// is on disk when `append` returns; callers append the event that authorises an action
/// before performing it. Triggers refuse UPDATE and DELETE on `events`.
/// Which events to read; nil fields match everything.
public struct AuditFilter: Sendable, Equatable {
    public var run: String?
    public var agent: String?
    public var kind: String?
    public var tool: String?
    public init(run: String? = nil, agent: String? = nil, kind: String? = nil, tool: String? = nil) {
        self.run = run
        self.agent = agent
        self.kind = kind
        self.tool = tool
    }
}

public final class AuditLog: Sendable {
    public let path: String
    private let pool: DatabasePool
    /// The highest sequence number this process has seen in the log (opened or appended).
    /// `verify` reports a log that ends before it as truncated.
    private let knownHead = Mutex<Int64>(0)

    public init(path: String) throws(AuditError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in try Self.migrate(db) }
            let head = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") } ?? 0
            knownHead.withLock { $0 = head }
        } catch {
            throw AuditError(.openFailed, "cannot open the audit database \(path): \(error). Check that the state directory is writable and that no other wardend uses it.")
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
            """)
    }

    /// Appends one event and returns it once it is durable.
    @discardableResult
    public func append(run: String, agent: String = "", kind: String, payload: JSONValue) async throws(AuditError) -> AuditEvent {
        do {
            let event = try await pool.write { db in try Self.insert(db, run: run, agent: agent, kind: kind, payload: payload) }
            knownHead.withLock { $0 = max($0, event.seq) }
            return event
        } catch {
            throw AuditError(.writeFailed, "cannot append to the audit log \(path): \(error)")
        }
    }

    /// The blocking form of `append`, for code that is not async.
    @discardableResult
    public func appendNow(run: String, agent: String = "", kind: String, payload: JSONValue) throws(AuditError) -> AuditEvent {
        do {
            let event = try pool.write { db in try Self.insert(db, run: run, agent: agent, kind: kind, payload: payload) }
            knownHead.withLock { $0 = max($0, event.seq) }
            return event
        } catch {
            throw AuditError(.writeFailed, "cannot append to the audit log \(path): \(error)")
        }
    }

    private static func insert(_ db: Database, run: String, agent: String, kind: String, payload: JSONValue) throws -> AuditEvent {
        let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        let seq: Int64 = (last?["seq"] ?? 0) + 1
        let prev: String = last?["hash"] ?? AuditChain.genesis
        let time = AuditClock.now()
        let hash = AuditChain.hash(prev: prev, seq: seq, run: run, agent: agent, kind: kind, time: time, payload: payload)
        try db.execute(
            sql: "INSERT INTO events (seq, run_id, agent, kind, time, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [seq, run, agent, kind, time, payload.canonicalString, prev, hash])
        return AuditEvent(seq: seq, run: run, agent: agent, kind: kind, time: time, payload: payload, prevHash: prev, hash: hash)
    }

    /// Events in sequence order, optionally of one run, after `afterSeq`.
    public func events(run: String? = nil, afterSeq: Int64 = 0, limit: Int = 10_000) throws(AuditError) -> [AuditEvent] {
        do {
            return try pool.read { db in
                let rows: [Row]
                if let run {
                    rows = try Row.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
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

    /// Moves the WAL into the database file and truncates it (on a clean stop).
    public func checkpoint() {
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

    /// Recomputes the whole chain; see `AuditVerifier`.
    public func verify() throws(AuditError) -> AuditVerification {
        let head = knownHead.withLock { $0 }
        do {
            return try pool.read { db in try AuditVerifier.verify(db, expectedHead: head) }
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Verifies a database file without a running daemon.
    public static func verify(fileAt path: String) throws(AuditError) -> AuditVerification {
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in try AuditVerifier.verify(db, expectedHead: 0) }
        } catch {
            throw AuditError(.readFailed, "cannot read the audit database \(path): \(error)")
        }
    }
}
