import Crypto
import GRDB
import GRDBSQLite
import WardenCore

/// The verification loop's view of one event: its columns as the bytes SQLite holds, valid
/// only during the callback (no String is made per column; this loop is the verify rate).
struct RawEvent {
    var seq: Int64
    var run: UnsafeBufferPointer<UInt8>
    var agent: UnsafeBufferPointer<UInt8>
    var kind: UnsafeBufferPointer<UInt8>
    var time: UnsafeBufferPointer<UInt8>
    var payload: UnsafeBufferPointer<UInt8>
    var prevHash: UnsafeBufferPointer<UInt8>
    var hash: UnsafeBufferPointer<UInt8>

    /// The entry's canonical bytes (see `AuditChain.entryBytes`), written into `out`.
    func entry(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: "{\"agent\":".utf8)
        JSONValue.writeString(bytes: agent, into: &out)
        out.append(contentsOf: ",\"kind\":".utf8)
        JSONValue.writeString(bytes: kind, into: &out)
        out.append(contentsOf: ",\"payload\":".utf8)
        out.append(contentsOf: payload)
        out.append(contentsOf: ",\"run\":".utf8)
        JSONValue.writeString(bytes: run, into: &out)
        out.append(contentsOf: ",\"seq\":".utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: ",\"time\":".utf8)
        JSONValue.writeString(bytes: time, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

enum EventWalk {
    /// Calls `body` for each event with `seq >= from`, in order, until it returns false.
    static func events(_ db: Database, from: Int64, _ body: (RawEvent) throws -> Bool) throws {
        guard let connection = db.sqliteConnection else { throw AuditError(.readFailed, "the database is closed") }
        var statement: OpaquePointer?
        let sql = "SELECT seq, run_id, agent, kind, time, payload, prev_hash, hash FROM events WHERE seq >= ? ORDER BY seq"
        guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw AuditError(.readFailed, "cannot read events: \(String(cString: sqlite3_errmsg(connection)))")
        }
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_int64(statement, 1, from)
        func column(_ index: Int32) -> UnsafeBufferPointer<UInt8> {
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let text = sqlite3_column_text(statement, index) else { return UnsafeBufferPointer(start: nil, count: 0) }
            return UnsafeBufferPointer(start: text, count: count)
        }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw AuditError(.readFailed, "cannot read events: \(String(cString: sqlite3_errmsg(connection)))") }
            let event = RawEvent(seq: sqlite3_column_int64(statement, 0), run: column(1), agent: column(2), kind: column(3), time: column(4),
                                 payload: column(5), prevHash: column(6), hash: column(7))
            if try !body(event) { return }
        }
    }
}

/// Whether `hex` (64 lower-case hex digits) spells `bytes`.
@inline(__always)
func hexEquals(_ hex: UnsafeBufferPointer<UInt8>, _ bytes: [UInt8]) -> Bool {
    guard hex.count == bytes.count * 2 else { return false }
    let digits: (UInt8) -> UInt8 = { $0 < 10 ? UInt8(ascii: "0") + $0 : UInt8(ascii: "a") + $0 - 10 }
    for (index, byte) in bytes.enumerated() where hex[2 * index] != digits(byte >> 4) || hex[2 * index + 1] != digits(byte & 0x0f) {
        return false
    }
    return true
}
