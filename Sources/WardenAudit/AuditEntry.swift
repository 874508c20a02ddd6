import WardenCore

/// The bytes an event's hashes cover: the canonical JSON of `{agent, kind, payload, run, seq,
/// time}`, built around the stored (already canonical) payload text. `write` is the one
/// definition of that format; the appenders, the writer and the verifier all go through it,
/// each with its own sink.
///
/// The keys are sorted, so `seq` and `time` come last: an appender writes the head (everything
/// up to `"seq":`) and starts its hash before the writer knows either, and the writer adds the
/// tail.
enum AuditEntry {
    enum Part { case head, tail, whole }

    @inline(__always)
    static func write<Sink: AuditEntrySink>(_ part: Part, agent: Sink.Text, kind: Sink.Text, payload: Sink.Text, run: Sink.Text,
                                            seq: Int64, time: Sink.Text, into sink: inout Sink) {
        if part != .tail {
            sink.literal("{\"agent\":")
            sink.string(agent)
            sink.literal(",\"kind\":")
            sink.string(kind)
            sink.literal(",\"payload\":")
            sink.raw(payload)
            sink.literal(",\"run\":")
            sink.string(run)
            sink.literal(",\"seq\":")
        }
        if part != .head {
            sink.decimal(seq)
            sink.literal(",\"time\":")
            sink.string(time)
            sink.literal("}")
        }
    }
}

/// Where `AuditEntry.write` puts the entry's bytes.
protocol AuditEntrySink {
    associatedtype Text
    mutating func literal(_ text: StaticString)
    /// `text` as a JSON string.
    mutating func string(_ text: Text)
    /// `text` as it is (the canonical payload).
    mutating func raw(_ text: Text)
    mutating func decimal(_ value: Int64)
}

/// Entry bytes in an array, from Swift strings.
struct EntryBytes: AuditEntrySink {
    var bytes: [UInt8] = []

    mutating func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
    mutating func string(_ text: String) { JSONValue.writeString(text, into: &bytes) }
    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }
    mutating func decimal(_ value: Int64) { appendDecimal(value, to: &bytes) }
}
