import GRDB
import WardenCore
import WardenVocabulary

/// A change of the checkpoint-signing key, recorded in the log itself as an `audit.key_rotated`
/// event: the old and the new public key, the time and the event the log ended at (its seq and
/// hash), signed by both keys. Checkpoints that end before the event are signed by the old key;
/// every checkpoint that covers it, by the new. A verifier that trusts any key of the chain
/// trusts them all: each link is vouched for by both of its ends, names the history it
/// follows, and the events are in the hash chain like every other. A verifier that trusts a
/// key a rotation brought in also needs a checkpoint that key signed covering the rotation:
/// without one, nothing signed by the trusted key vouches for the log (an old key, exposed,
/// could have written a history and a copied rotation event after it).
public enum KeyRotation {

    /// The statement both keys sign (canonical JSON of it).
    static func statement(old: AuditPublicKey, new: AuditPublicKey, time: String, after: KeyRotated.After?) -> JSONValue {
        var statement: [String: JSONValue] = ["old_key": .string(old.hex), "old_key_id": .string(old.id), "new_key": .string(new.hex),
                                              "new_key_id": .string(new.id), "time": .string(time)]
        if let after { statement["after"] = ["seq": .int(after.seq), "hash": .string(after.hash)] }
        return .object(statement)
    }

    /// The event's payload: the statement and both signatures of it.
    static func payload(old: AuditSigner, new: AuditSigner, time: String, after: KeyRotated.After?) -> KeyRotated {
        let message = statement(old: old.publicKey, new: new.publicKey, time: time, after: after).canonicalBytes
        return KeyRotated(oldKey: old.publicKey.hex, oldKeyID: old.publicKey.id, newKey: new.publicKey.hex, newKeyID: new.publicKey.id,
                          time: time, after: after, signatures: .init(old: old.sign(message).hex, new: new.sign(message).hex))
    }

    /// One recorded rotation, its signatures checked.
    struct Link {
        var seq: Int64
        var old: AuditPublicKey
        var new: AuditPublicKey
    }

    /// The rotation recorded in `payload` at `seq`, or why it is not a valid one. `hashAt` gives
    /// a stored event's hash (the chain check vouches for it).
    static func link(seq: Int64, payload: JSONValue, hashAt: (Int64) throws -> String?) rethrows -> Result<Link, AuditError> {
        func bad(_ why: String) -> Result<Link, AuditError> { .failure(AuditError(.key, "key rotation at event \(seq): \(why)")) }
        guard let rotation = try? KeyRotated.decoded(from: payload),
              let old = try? AuditPublicKey(hex: rotation.oldKey), let new = try? AuditPublicKey(hex: rotation.newKey) else {
            return bad("it lacks a field (old_key, new_key, time, signatures.old, signatures.new)")
        }
        let (oldSignature, newSignature) = (rotation.signatures.old, rotation.signatures.new)
        if let after = rotation.after {
            guard after.seq < seq, try hashAt(after.seq) == after.hash else {
                return bad("it names event \(after.seq) with hash \(after.hash.prefix(16))…, which is not this log's history")
            }
        }
        let message = statement(old: old, new: new, time: rotation.time, after: rotation.after).canonicalBytes
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
    /// The seq from which the trusted key is in force (0: it is the log's first key).
    private(set) var anchorFrom: Int64 = 0

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
            let link = try KeyRotation.link(seq: row["seq"], payload: payload) { seq in
                try String.fetchOne(db, sql: "SELECT hash FROM events WHERE seq = ?", arguments: [seq])
            }
            switch link {
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
        guard let anchored = keys.first(where: { $0.key == anchor }) else {
            return .failure(AuditError(.key, "the trusted public key \(anchor.id) is none of the log's signing keys (\(keys.map(\.key.id).joined(separator: ", ")))"))
        }
        return .success(KeyTimeline(keys: keys, anchorFrom: anchored.from))
    }
}
