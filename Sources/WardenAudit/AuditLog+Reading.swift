import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import WardenCore
import WardenVocabulary

/// Reading the log: events by run or by filter, its size, the runs a crash left unfinished.
extension AuditLog {
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
}
