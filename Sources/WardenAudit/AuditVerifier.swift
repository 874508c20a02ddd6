import GRDB
import WardenCore

/// The result of checking the chain: intact, or the first event that does not match.
public struct AuditVerification: Sendable, Equatable, Codable {
    public var ok: Bool
    public var events: Int64
    public var lastHash: String
    /// The first bad event's sequence number, and what is wrong with it.
    public var firstBadSeq: Int64?
    public var problem: String?

    enum CodingKeys: String, CodingKey {
        case ok, events
        case lastHash = "last_hash"
        case firstBadSeq = "first_bad_seq"
        case problem
    }
}

/// Walks the log in sequence order and recomputes every hash. Removal shows as a gap in the
/// sequence, alteration as a hash that does not match the row, insertion or reordering as a
/// broken link (`prev_hash`) or a hash mismatch, truncation as a log ending before the
/// highest sequence number the daemon wrote.
enum AuditVerifier {
    static func verify(_ db: Database, expectedHead: Int64) throws -> AuditVerification {
        var expectedSeq: Int64 = 1
        var prev = AuditChain.genesis
        var count: Int64 = 0
        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, run_id, agent, kind, time, payload, prev_hash, hash FROM events ORDER BY seq")
        func bad(_ seq: Int64, _ problem: String) -> AuditVerification {
            AuditVerification(ok: false, events: count, lastHash: prev, firstBadSeq: seq, problem: problem)
        }
        while let row = try cursor.next() {
            let seq: Int64 = row["seq"]
            if seq != expectedSeq {
                return bad(expectedSeq, seq > expectedSeq
                    ? "event \(expectedSeq) is missing (removed); the next stored event is \(seq)"
                    : "event \(seq) is out of order")
            }
            let storedPrev: String = row["prev_hash"]
            if storedPrev != prev {
                return bad(seq, "event \(seq) does not link to event \(seq - 1) (inserted, reordered or altered prev_hash)")
            }
            let payloadText: String = row["payload"]
            guard let payload = try? JSONValue.parse(payloadText) else {
                return bad(seq, "event \(seq) has a payload that is not valid JSON (altered)")
            }
            let hash = AuditChain.hash(prev: prev, seq: seq, run: row["run_id"], agent: row["agent"], kind: row["kind"],
                                       time: row["time"], payload: payload)
            let storedHash: String = row["hash"]
            if hash != storedHash || payload.canonicalString != payloadText {
                return bad(seq, "event \(seq) does not match its hash (altered or inserted)")
            }
            prev = storedHash
            count += 1
            expectedSeq += 1
        }
        if expectedHead > count {
            return bad(count + 1, "the log ends at event \(count) but the daemon wrote events up to \(expectedHead) (truncated)")
        }
        return AuditVerification(ok: true, events: count, lastHash: prev, firstBadSeq: nil, problem: nil)
    }
}
