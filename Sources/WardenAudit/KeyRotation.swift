import GRDB
import WardenCore
import WardenVocabulary

/// A change of the checkpoint-signing key, recorded in the log itself as an `audit.key_rotated`
/// event: the old and the new public key and the time, signed by both keys. Checkpoints that
/// end before the event are signed by the old key; every checkpoint that covers it, by the
/// new. A verifier that trusts any key of the chain trusts them all: each link is vouched for
/// by both of its ends, and the events are in the hash chain like every other.
public enum KeyRotation {

    /// The statement both keys sign (canonical JSON of it).
    static func statement(old: AuditPublicKey, new: AuditPublicKey, time: String) -> JSONValue {
        ["old_key": .string(old.hex), "old_key_id": .string(old.id), "new_key": .string(new.hex), "new_key_id": .string(new.id),
         "time": .string(time)]
    }

    /// The event's payload: the statement and both signatures of it.
    static func payload(old: AuditSigner, new: AuditSigner, time: String) -> KeyRotated {
        let message = statement(old: old.publicKey, new: new.publicKey, time: time).canonicalBytes
        return KeyRotated(oldKey: old.publicKey.hex, oldKeyID: old.publicKey.id, newKey: new.publicKey.hex, newKeyID: new.publicKey.id,
                          time: time, signatures: .init(old: old.sign(message).hex, new: new.sign(message).hex))
    }

    /// One recorded rotation, its signatures checked.
    struct Link {
        var seq: Int64
        var old: AuditPublicKey
        var new: AuditPublicKey
    }

    /// The rotation recorded in `payload` at `seq`, or why it is not a valid one.
    static func link(seq: Int64, payload: JSONValue) -> Result<Link, AuditError> {
        func bad(_ why: String) -> Result<Link, AuditError> { .failure(AuditError(.key, "key rotation at event \(seq): \(why)")) }
        guard let oldHex = payload["old_key"]?.stringValue, let newHex = payload["new_key"]?.stringValue,
              let time = payload["time"]?.stringValue, let oldSignature = payload["signatures"]?["old"]?.stringValue,
              let newSignature = payload["signatures"]?["new"]?.stringValue,
              let old = try? AuditPublicKey(hex: oldHex), let new = try? AuditPublicKey(hex: newHex) else {
            return bad("it lacks a field (old_key, new_key, time, signatures.old, signatures.new)")
        }
        let message = statement(old: old, new: new, time: time).canonicalBytes
        guard old.isValid(signature: AuditChain.hexBytes(oldSignature), for: message) else { return bad("the old key's signature does not hold") }
        guard new.isValid(signature: AuditChain.hexBytes(newSignature), for: message) else { return bad("the new key's signature does not hold") }
        return .success(Link(seq: seq, old: old, new: new))
    }
}

/// Which key signs which checkpoints: the log's first key until its first rotation, then each
/// rotation's new key. Built from the log's rotation events and anchored in the key the
/// verifier trusts, which must be one of them.
struct KeyTimeline: Sendable {
    /// (the rotation's seq, the key in force from it on); the first entry's seq is 0.
    private(set) var keys: [(from: Int64, key: AuditPublicKey)]

    /// The key that signs a checkpoint covering the first `count` events.
    func key(forCount count: Int64) -> AuditPublicKey {
        keys.last { $0.from <= count }?.key ?? keys[0].key
    }

    /// The timeline of the log in `db`, trusted through `anchor`; nil without an anchor.
    static func read(_ db: Database, anchor: AuditPublicKey?) throws -> Result<KeyTimeline?, AuditError> {
        let rows = try Row.fetchAll(db, sql: "SELECT seq, payload FROM events WHERE kind = ? ORDER BY seq", arguments: [AuditKind.keyRotated.rawValue])
        guard let anchor else { return .success(nil) }
        var links: [KeyRotation.Link] = []
        for row in rows {
            let text: String = row["payload"]
            guard let payload = try? JSONValue.parse(text) else {
                return .failure(AuditError(.key, "key rotation at event \(row["seq"] as Int64): the payload is not JSON (altered)"))
            }
            switch KeyRotation.link(seq: row["seq"], payload: payload) {
            case .success(let link): links.append(link)
            case .failure(let error): return .failure(error)
            }
        }
        guard let first = links.first else { return .success(KeyTimeline(keys: [(0, anchor)])) }
        var keys: [(from: Int64, key: AuditPublicKey)] = [(0, first.old)]
        for link in links {
            guard link.old == keys[keys.count - 1].key else {
                return .failure(AuditError(.key, "key rotation at event \(link.seq) starts from key \(link.old.id), not from the key in force (\(keys[keys.count - 1].key.id))"))
            }
            keys.append((link.seq, link.new))
        }
        guard keys.contains(where: { $0.key == anchor }) else {
            return .failure(AuditError(.key, "the trusted public key \(anchor.id) is none of the log's signing keys (\(keys.map(\.key.id).joined(separator: ", ")))"))
        }
        return .success(KeyTimeline(keys: keys))
    }
}
