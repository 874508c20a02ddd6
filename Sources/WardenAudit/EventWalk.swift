import GRDB
import GRDBSQLite
import WardenCore

/// The verification loop's view of one event: its columns as the bytes SQLite holds, valid
/// only until the cursor moves on (no String is made per column; this loop is the verify rate).
struct RawEvent {
    var seq: Int64
    var run: UnsafeBufferPointer<UInt8>
    var agent: UnsafeBufferPointer<UInt8>
    var kind: UnsafeBufferPointer<UInt8>
    var time: UnsafeBufferPointer<UInt8>
    var payload: UnsafeBufferPointer<UInt8>
    var prevHash: UnsafeBufferPointer<UInt8>
    var hash: UnsafeBufferPointer<UInt8>
}

/// The events with `seq >= from`, in order, straight from a prepared statement. A loop over a
/// cursor, not a callback: state the loop keeps in local variables stays statically checked.
struct EventCursor: ~Copyable {
    private let connection: OpaquePointer
    private let statement: OpaquePointer

    init(_ db: Database, from: Int64) throws {
        guard let connection = db.sqliteConnection else { throw AuditError(.readFailed, "the database is closed") }
        var statement: OpaquePointer?
        let sql = "SELECT seq, run_id, agent, kind, time, payload, prev_hash, hash FROM events WHERE seq >= ? ORDER BY seq"
        guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw AuditError(.readFailed, "cannot read events: \(String(cString: sqlite3_errmsg(connection)))")
        }
        sqlite3_bind_int64(statement, 1, from)
        self.connection = connection
        self.statement = statement
    }

    deinit { sqlite3_finalize(statement) }

    /// The next event, valid until the next call; nil after the last.
    mutating func next() throws -> RawEvent? {
        let rc = sqlite3_step(statement)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else { throw AuditError(.readFailed, "cannot read events: \(String(cString: sqlite3_errmsg(connection)))") }
        return RawEvent(seq: sqlite3_column_int64(statement, 0), run: column(1), agent: column(2), kind: column(3), time: column(4),
                        payload: column(5), prevHash: column(6), hash: column(7))
    }

    private func column(_ index: Int32) -> UnsafeBufferPointer<UInt8> {
        let count = Int(sqlite3_column_bytes(statement, index))
        guard let text = sqlite3_column_text(statement, index) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: text, count: count)
    }
}

/// What an event's Merkle leaf hash covers, 0x00 ‖ the entry's canonical bytes (see
/// `AuditChain.entryBytes`), followed by SHA-256's padding, written in place into memory sized
/// once per event.
struct LeafInput: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// The message's length, without the padding.
    private(set) var length = 0
    private var paddedLength = 0

    init() {
        capacity = 4096
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    /// The message and its padding: a whole number of 64-byte blocks.
    var padded: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: paddedLength) }

    mutating func write(_ event: RawEvent) {
        // Room for the worst case: every string byte escaped as \u00XX, the literals, the
        // sequence number and the padding.
        let strings = event.agent.count + event.kind.count + event.run.count + event.time.count
        let needed = 64 + event.payload.count + 6 * strings + 8 + 20 + 72
        if needed > capacity {
            base.deallocate()
            capacity = max(needed, 2 * capacity)
            base = .allocate(capacity: capacity)
        }
        base.pointee = 0
        var sink = EntryCursor(at: base + 1)
        AuditEntry.write(.whole, agent: event.agent, kind: event.kind, payload: event.payload, run: event.run, seq: event.seq,
                         time: event.time, into: &sink)
        length = sink.at - base
        paddedLength = writeSHA256Padding(messageLength: length, at: sink.at) - base
    }
}

/// Entry bytes written at a cursor into memory the caller has sized, from a row's columns.
struct EntryCursor: AuditEntrySink {
    var at: UnsafeMutablePointer<UInt8>

    @inline(__always)
    mutating func literal(_ text: StaticString) { at.put(text) }
    @inline(__always)
    mutating func string(_ text: UnsafeBufferPointer<UInt8>) { at += JSONValue.writeString(bytes: text, at: at) }
    @inline(__always)
    mutating func raw(_ text: UnsafeBufferPointer<UInt8>) { at.put(text) }
    @inline(__always)
    mutating func decimal(_ value: Int64) { at.putDecimal(value) }
}

/// Writing at a cursor into memory the caller has sized.
private extension UnsafeMutablePointer<UInt8> {
    @inline(__always)
    mutating func put(_ byte: UInt8) {
        pointee = byte
        self += 1
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        update(from: source, count: bytes.count)
        self += bytes.count
    }

    /// A literal's bytes, straight from where the compiler put them.
    @inline(__always)
    mutating func put(_ text: StaticString) {
        put(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `value` in decimal, as `String(value)` spells it (at most 20 bytes).
    @inline(__always)
    mutating func putDecimal(_ value: Int64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
        let count = withUnsafeMutableBytes(of: &digits) { writeDecimal(value, intoEndOf: $0) }
        withUnsafeBytes(of: digits) { put(UnsafeBufferPointer(rebasing: $0.assumingMemoryBound(to: UInt8.self).suffix(count))) }
    }
}

/// Appends `value` in decimal, as `String(value)` spells it, without making the String.
@inline(__always)
func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
    withUnsafeMutableBytes(of: &digits) { scratch in
        let count = writeDecimal(value, intoEndOf: scratch)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[(24 - count)...]))
    }
}

/// Writes `value` in decimal at the end of `scratch` (24 bytes); returns how many bytes.
@inline(__always)
private func writeDecimal(_ value: Int64, intoEndOf scratch: UnsafeMutableRawBufferPointer) -> Int {
    var rest = value.magnitude
    var count = 0
    repeat {
        scratch[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
        rest /= 10
        count += 1
    } while rest > 0
    if value < 0 {
        scratch[23 - count] = UInt8(ascii: "-")
        count += 1
    }
    return count
}
