import GRDB
import WardenCore

/// Inclusion proofs: that an event is in the log a signed checkpoint commits to, checkable
/// offline with nothing but the proof and the public key.
///
/// A proof is JSON: `{event: {seq, run, agent, kind, time, payload}, leaf_index, tree_size,
/// path: [hex…], checkpoint: {number, event_count, root, chain_head, frontier, time, key_id,
/// signature}, public_key}` (the key is informative: the verifier supplies its own).
public enum AuditProof {
    static func make(_ db: Database, seq: Int64, publicKey: AuditPublicKey?) throws -> JSONValue {
        try AuditVerifier.requireWardenLog(db)
        guard let checkpoint = try AuditLog.checkpoints(db).last(where: { $0.eventCount >= seq }) else {
            throw AuditError(.proof, "no checkpoint covers event \(seq) yet (checkpoints come every few seconds while events arrive)")
        }
        var leaves: [Merkle.Hash] = []
        leaves.reserveCapacity(Int(checkpoint.eventCount))
        var event: JSONValue?
        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, run_id, agent, kind, time, payload FROM events WHERE seq <= ? ORDER BY seq",
                                         arguments: [checkpoint.eventCount])
        while let row = try cursor.next() {
            let (rowSeq, run, agent, kind, time, payloadText): (Int64, String, String, String, String, String) =
                (row["seq"], row["run_id"], row["agent"], row["kind"], row["time"], row["payload"])
            leaves.append(Merkle.leafHash(AuditChain.entryBytes(seq: rowSeq, run: run, agent: agent, kind: kind, time: time,
                                                                payloadText: payloadText)))
            if rowSeq == seq {
                event = ["seq": .int(rowSeq), "run": .string(run), "agent": .string(agent), "kind": .string(kind), "time": .string(time),
                         "payload": (try? JSONValue.parse(payloadText)) ?? .string(payloadText)]
            }
        }
        guard let event else { throw AuditError(.proof, "the log has no event \(seq)") }
        guard leaves.count == Int(checkpoint.eventCount) else {
            throw AuditError(.proof, "checkpoint \(checkpoint.number) covers \(checkpoint.eventCount) events but the log holds \(leaves.count): run `wardenctl audit verify`")
        }
        let path = Merkle.inclusionProof(index: Int(seq - 1), leaves: leaves[...])
        var proof: [String: JSONValue] = ["event": event, "leaf_index": .int(seq - 1), "tree_size": .int(checkpoint.eventCount),
                                          "path": .array(path.map { .string($0.hex) }), "checkpoint": checkpoint.json]
        if let publicKey { proof["public_key"] = .string(publicKey.hex) }
        return .object(proof)
    }

    /// Checks a proof with `publicKey`: the event's leaf folds up the path to the checkpoint's
    /// root, and the checkpoint is signed by the key. Returns what it proves, or throws why not.
    public static func verify(_ proof: JSONValue, publicKey: AuditPublicKey) throws(AuditError) -> String {
        guard let event = proof["event"], let seq = event["seq"]?.intValue, let run = event["run"]?.stringValue,
              let agent = event["agent"]?.stringValue, let kind = event["kind"]?.stringValue, let time = event["time"]?.stringValue,
              let payload = event["payload"], let index = proof["leaf_index"]?.intValue, let size = proof["tree_size"]?.intValue,
              let pathValues = proof["path"]?.arrayValue, let checkpointValue = proof["checkpoint"] else {
            throw AuditError(.proof, "not an inclusion proof: it needs event{seq, run, agent, kind, time, payload}, leaf_index, tree_size, path and checkpoint")
        }
        let checkpoint = try AuditCheckpoint(json: checkpointValue)
        guard checkpoint.keyID == publicKey.id else {
            throw AuditError(.proof, "the checkpoint was signed by key \(checkpoint.keyID), not by the given key \(publicKey.id)")
        }
        guard checkpoint.isSigned(by: publicKey) else { throw AuditError(.proof, "the checkpoint's signature is not valid (altered)") }
        guard size == checkpoint.eventCount, index == seq - 1 else {
            throw AuditError(.proof, "the proof's tree size or leaf index does not match its checkpoint and event")
        }
        var path: [Merkle.Hash] = []
        for value in pathValues {
            guard let hex = value.stringValue, hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw AuditError(.proof, "the path holds something that is not a SHA-256 hash")
            }
            path.append(AuditChain.hexBytes(hex))
        }
        let leaf = Merkle.leafHash(AuditChain.entryBytes(seq: seq, run: run, agent: agent, kind: kind, time: time,
                                                         payloadText: payload.canonicalString))
        guard Merkle.verifyInclusion(leaf: leaf, index: Int(index), size: Int(size), path: path, root: AuditChain.hexBytes(checkpoint.root)) else {
            throw AuditError(.proof, "event \(seq) is not in the tree checkpoint \(checkpoint.number) signs (the event or the path was altered)")
        }
        return "event \(seq) (\(kind), run \(run)) is event \(seq) of the \(size) that checkpoint \(checkpoint.number) signs (key \(publicKey.id), \(checkpoint.time))"
    }
}
