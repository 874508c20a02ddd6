import Foundation
import WardenCore

/// One row of the audit log.
public struct AuditEvent: Sendable, Equatable, Codable {
    public var seq: Int64
    public var run: String
    public var agent: String
    public var kind: String
    /// UTC, RFC 3339 with microseconds.
    public var time: String
    public var payload: JSONValue
    public var prevHash: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, run, agent, kind, time, payload
        case prevHash = "prev_hash"
        case hash
    }

    public init(seq: Int64, run: String, agent: String, kind: String, time: String, payload: JSONValue,
                prevHash: String, hash: String) {
        self.seq = seq
        self.run = run
        self.agent = agent
        self.kind = kind
        self.time = time
        self.payload = payload
        self.prevHash = prevHash
        self.hash = hash
    }

    /// From the `json` form (what the control API and `audit query --json` carry).
    public init?(json: JSONValue) {
        guard let seq = json["seq"]?.intValue, let run = json["run"]?.stringValue, let agent = json["agent"]?.stringValue,
              let kind = json["kind"]?.stringValue, let time = json["time"]?.stringValue, let payload = json["payload"] else { return nil }
        self.init(seq: seq, run: run, agent: agent, kind: kind, time: time, payload: payload,
                  prevHash: json["prev_hash"]?.stringValue ?? "", hash: json["hash"]?.stringValue ?? "")
    }

    public var json: JSONValue {
        ["seq": .int(seq), "run": .string(run), "agent": .string(agent), "kind": .string(kind),
         "time": .string(time), "payload": payload, "prev_hash": .string(prevHash), "hash": .string(hash)]
    }
}

/// The hash chain: each event's hash is SHA-256 over the previous event's hash (32 bytes) and
/// the Merkle leaf hash of its entry, SHA-256(0x00 ‖ canonical JSON of `{agent, kind, payload,
/// run, seq, time}`). The first event chains from 32 zero bytes. Covering `seq` makes
/// reordering and renumbering detectable.
public enum AuditChain {
    public static let genesis = String(repeating: "0", count: 64)

    public static func hash(prev: String, seq: Int64, run: String, agent: String, kind: String, time: String,
                            payload: JSONValue) -> String {
        hash(prev: prev, entry: entryBytes(seq: seq, run: run, agent: agent, kind: kind, time: time, payloadText: payload.canonicalString))
    }

    /// The chain hash of an entry: SHA-256 of the previous hash's 32 bytes and the entry's
    /// Merkle leaf hash, in hex. Linking the leaves rather than the entries hashes each entry
    /// once for both structures.
    public static func hash(prev: String, entry: [UInt8]) -> String {
        lowercaseHex(link(prev: hexBytes(prev), leaf: Merkle.leafHash(entry)))
    }

    /// SHA-256(previous hash ‖ leaf hash), as bytes.
    public static func link(prev: [UInt8], leaf: [UInt8]) -> [UInt8] {
        prev.withUnsafeBytes { p in leaf.withUnsafeBytes { l in StackSHA256.hash(p, l) } }.bytes
    }

    /// The entry an event's hashes cover (`AuditEntry`).
    public static func entryBytes(seq: Int64, run: String, agent: String, kind: String, time: String, payloadText: String) -> [UInt8] {
        var sink = EntryBytes()
        sink.bytes.reserveCapacity(payloadText.utf8.count + run.utf8.count + agent.utf8.count + kind.utf8.count + 128)
        AuditEntry.write(.whole, agent: agent, kind: kind, payload: payloadText, run: run, seq: seq, time: time, into: &sink)
        return sink.bytes
    }

    /// The entry up to and including `"seq":`, made before the seq and time are known.
    static func entryHead(run: String, agent: String, kind: String, payloadText: String) -> [UInt8] {
        var sink = EntryBytes()
        sink.bytes.reserveCapacity(payloadText.utf8.count + run.utf8.count + agent.utf8.count + kind.utf8.count + 96)
        AuditEntry.write(.head, agent: agent, kind: kind, payload: payloadText, run: run, seq: 0, time: "", into: &sink)
        return sink.bytes
    }

    /// The rest of the entry after its head: `SEQ,"time":TIME}`.
    static func appendEntryTail(seq: Int64, time: String, to out: inout [UInt8]) {
        var sink = EntryBytes(bytes: out)
        out = []
        AuditEntry.write(.tail, agent: "", kind: "", payload: "", run: "", seq: seq, time: time, into: &sink)
        out = sink.bytes
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var hex = hex
        return hex.withUTF8 { utf8 in
            [UInt8](unsafeUninitializedCapacity: utf8.count / 2) { buffer, count in
                for index in 0..<(utf8.count / 2) {
                    buffer[index] = nibble(utf8[2 * index]) << 4 | nibble(utf8[2 * index + 1])
                }
                count = utf8.count / 2
            }
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return 0
        }
    }
}

public enum AuditClock {
    /// The current UTC time as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Digits by hand, not String(format:): every audit event takes a time, on the writer's path.
        var out: [UInt8] = []
        out.reserveCapacity(27)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(Int(ts.tv_nsec / 1000), 6); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
