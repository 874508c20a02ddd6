import GRDB
import GRDBSQLite

/// Runs a prepared INSERT of an integer key and text columns with SQLite's own binding calls:
/// GRDB's `execute(arguments:)` boxes every value (a `DatabaseValue` array per row), which perf
/// showed as a tenth of the single audit writer's time.
enum RowInsert {
    /// SQLITE_TRANSIENT (a C macro Swift cannot import): SQLite copies the bytes during the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Binds `key` to parameter 1 and `texts` to 2…, steps once and resets.
    static func run(_ statement: Statement, in db: Database, _ key: Int64, _ texts: [String]) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        sqlite3_bind_int64(handle, 1, key)
        for (offset, text) in texts.enumerated() {
            var text = text
            text.withUTF8 { bytes in
                if let base = bytes.baseAddress {
                    _ = sqlite3_bind_text(handle, Int32(offset + 2), UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), transient)
                } else {
                    // An empty string may have no buffer; a NULL pointer would bind NULL, not "".
                    _ = sqlite3_bind_text(handle, Int32(offset + 2), "", 0, transient)
                }
            }
        }
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) } ?? "the database is closed"
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }
}
