import GRDB
import GRDBSQLite

/// Runs a prepared INSERT of an integer key and text columns, row after row, with SQLite's own
/// binding calls: GRDB's `execute(arguments:)` boxes every value (a `DatabaseValue` array per
/// row), work the single audit writer would do for every event. A row's texts are laid
/// out in one buffer, kept from row to row, that outlives the step, so SQLite binds them in
/// place (SQLITE_STATIC) and no row allocates.
struct RowInsert {
    private let statement: Statement
    private var buffer: [UInt8] = []
    private var ends: [Int] = []

    init(_ statement: Statement) {
        self.statement = statement
        buffer.reserveCapacity(4096)
        ends.reserveCapacity(16)
    }

    /// Adds the next text column of the row being built (parameters 2, 3, … in order).
    mutating func text(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        ends.append(buffer.count)
    }

    /// Binds `key` to parameter 1 and the texts added since the last row to 2…, steps once and
    /// resets; the next row starts empty.
    mutating func insert(key: Int64, in db: Database) throws {
        defer {
            buffer.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
        }
        let handle = statement.sqliteStatement
        let ends = self.ends
        let code = buffer.withUnsafeBufferPointer { bytes -> Int32 in
            sqlite3_bind_int64(handle, 1, key)
            var start = 0
            for (offset, end) in ends.enumerated() {
                // An empty text still binds "" (not NULL): any non-null pointer with length 0.
                let base = bytes.baseAddress.map { UnsafeRawPointer($0 + start) } ?? UnsafeRawPointer(("" as StaticString).utf8Start)
                _ = sqlite3_bind_text(handle, Int32(offset + 2), base.assumingMemoryBound(to: CChar.self), Int32(end - start), nil)
                start = end
            }
            let code = sqlite3_step(handle)
            // Every parameter is bound again before the next step, so the bindings are not
            // cleared; resetting ends the statement (SQLite reads the texts only while stepping).
            sqlite3_reset(handle)
            return code
        }
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) } ?? "the database is closed"
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }
}
