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

    /// What the Merkle leaf hash covers, 0x00 ‖ the entry's canonical bytes (see
    /// `AuditChain.entryBytes`), written into `out`: hashed in one piece.
    func leafInput(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(0)
        append("{\"agent\":", to: &out)
        JSONValue.writeString(bytes: agent, into: &out)
        append(",\"kind\":", to: &out)
        JSONValue.writeString(bytes: kind, into: &out)
        append(",\"payload\":", to: &out)
        out.append(contentsOf: payload)
        append(",\"run\":", to: &out)
        JSONValue.writeString(bytes: run, into: &out)
        append(",\"seq\":", to: &out)
        appendDecimal(seq, to: &out)
        append(",\"time\":", to: &out)
        JSONValue.writeString(bytes: time, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// A literal's bytes, straight from where the compiler put them.
    @inline(__always)
    private func append(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
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

/// Appends `value` in decimal, as `String(value)` spells it, without making the String.
@inline(__always)
func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
    if value < 0 || value > 999_999_999_999_999_999 {
        out.append(contentsOf: String(value).utf8)
        return
    }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
    var rest = UInt64(value)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { scratch in
        repeat {
            scratch[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            count += 1
        } while rest > 0
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[(24 - count)...]))
    }
}
