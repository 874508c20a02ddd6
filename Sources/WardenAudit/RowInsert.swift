import GRDB
import GRDBSQLite

/// Runs a prepared INSERT of an integer key and text columns with SQLite's own binding calls:
/// GRDB's `execute(arguments:)` boxes every value (a `DatabaseValue` array per row), which perf
/// showed as a tenth of the single audit writer's time.
enum RowInsert {
    /// Binds `key` to parameter 1 and `texts` to 2…, steps once and resets. The texts are laid
    /// out in one buffer that outlives the step, so SQLite binds them in place (SQLITE_STATIC)
    /// instead of copying each into a block of its own.
    static func run(_ statement: Statement, in db: Database, _ key: Int64, _ texts: [String]) throws {
        let handle = statement.sqliteStatement
        var buffer: [UInt8] = []
        buffer.reserveCapacity(texts.reduce(0) { $0 + $1.utf8.count })
        var ends: [Int] = []
        ends.reserveCapacity(texts.count)
        for text in texts {
            buffer.append(contentsOf: text.utf8)
            ends.append(buffer.count)
        }
        let code = buffer.withUnsafeBufferPointer { bytes -> Int32 in
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            sqlite3_bind_int64(handle, 1, key)
            var start = 0
            for (offset, end) in ends.enumerated() {
                // An empty text still binds "" (not NULL): any non-null pointer with length 0.
                let base = bytes.baseAddress.map { UnsafeRawPointer($0 + start) } ?? UnsafeRawPointer(("" as StaticString).utf8Start)
                _ = sqlite3_bind_text(handle, Int32(offset + 2), base.assumingMemoryBound(to: CChar.self), Int32(end - start), nil)
                start = end
            }
            let code = sqlite3_step(handle)
            // Unbound before the buffer goes: nothing may point into it afterwards.
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            return code
        }
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) } ?? "the database is closed"
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }
}
