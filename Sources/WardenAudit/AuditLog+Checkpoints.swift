import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import WardenCore
import WardenVocabulary

/// The Merkle tree over the log's entries, its signed checkpoints, and key rotation.
extension AuditLog {

    /// Recomputes the Merkle frontier from the stored events (at open).
    func rebuildTree(_ db: Database) throws {
        var frontier = Merkle.Frontier()
        var lastHash = AuditChain.genesis
        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, run_id, agent, kind, time, payload, hash FROM events ORDER BY seq")
        var rotated: AuditPublicKey?
        while let row = try cursor.next() {
            let kind: String = row["kind"]
            let payloadText: String = row["payload"]
            frontier.append(Merkle.leafHash(AuditChain.entryBytes(seq: row["seq"], run: row["run_id"], agent: row["agent"],
                                                                  kind: kind, time: row["time"], payloadText: payloadText)))
            lastHash = row["hash"]
            if kind == AuditKind.keyRotated.rawValue, let hex = (try? JSONValue.parse(payloadText))?["new_key"]?.stringValue {
                rotated = try? AuditPublicKey(hex: hex)
            }
        }
        rotatedTo.withLock { $0 = rotated }
        let last = try Row.fetchOne(db, sql: "SELECT number, event_count FROM checkpoints ORDER BY number DESC LIMIT 1")
        tree.withLock { $0 = (frontier, lastHash, last?["number"] ?? 0, last?["event_count"] ?? 0) }
    }

    /// Appends a leaf for the event just inserted, and a signed checkpoint when one is due.
    func extendTree(_ db: Database, event: AuditEvent, leaf: Digest32) throws {
        // A rotation's event is the first the new key covers: it signs from here on.
        if event.kind == AuditKind.keyRotated.rawValue, let pending = pendingRotation.withLock({ $0 }),
           event.payload["new_key"]?.stringValue == pending.publicKey.hex {
            signerBox.withLock { $0 = pending }
            pendingRotation.withLock { $0 = nil }
            rotatedTo.withLock { $0 = pending.publicKey }
        }
        guard let signer else { return }
        let due = tree.withLock { state -> Bool in
            state.frontier.append(leaf)
            state.lastHash = event.hash
            return Int64(state.frontier.count) % checkpointEvery == 0
        }
        if due { try writeCheckpoint(db, signer: signer) }
    }

    /// The key the log's last recorded rotation moved to, if it has one: at start, wardend's key
    /// must be this one (or it finishes a rotation a stop interrupted).
    public var lastRotatedKey: AuditPublicKey? { rotatedTo.withLock { $0 } }

    /// Takes `signer` as the checkpoint key, at start, when the log's last rotation names it.
    public func adopt(_ signer: AuditSigner) throws(AuditError) {
        guard lastRotatedKey == signer.publicKey else {
            throw AuditError(.key, "key \(signer.publicKey.id) is not the key the log's last rotation moved to (\(lastRotatedKey?.id ?? "none"))")
        }
        signerBox.withLock { $0 = signer }
    }

    /// Replaces the checkpoint-signing key with `new`: a checkpoint under the old key first, then
    /// the `audit.key_rotated` event (signed by both, durable), from which the new key signs;
    /// then a checkpoint under the new key. Returns the rotation's event. The caller keeps the
    /// new private key where the next start finds it (`AuditSigner.pendingKeyFile`) before calling.
    public func rotateKey(to new: AuditSigner) async throws(AuditError) -> AuditEvent {
        guard let old = signer else { throw AuditError(.key, "this log signs no checkpoints; there is no key to rotate") }
        guard old.publicKey != new.publicKey else { throw AuditError(.key, "the new key is the key in use") }
        try checkpointNow()
        pendingRotation.withLock { $0 = new }
        let written: AuditEvent?
        do throws(AuditError) {
            let head = tree.withLock { state in (Int64(state.frontier.count), state.lastHash) }
            let after = head.0 > 0 ? KeyRotated.After(seq: head.0, hash: head.1) : nil
            written = try await append(KeyRotation.payload(old: old, new: new, time: AuditClock.now(), after: after), run: "", durability: .durable)
        } catch {
            pendingRotation.withLock { $0 = nil }
            signerBox.withLock { if $0?.publicKey == new.publicKey { $0 = old } }
            throw error
        }
        guard let event = written, signer?.publicKey == new.publicKey else {
            throw AuditError(.key, "the rotation event was written but the new key did not take over; restart wardend")
        }
        try checkpointNow()
        return event
    }

    func writeCheckpoint(_ db: Database, signer: AuditSigner) throws {
        let checkpoint = tree.withLock { state -> AuditCheckpoint? in
            guard Int64(state.frontier.count) > state.checkpointedCount else { return nil }
            var checkpoint = AuditCheckpoint(number: state.checkpoints + 1, eventCount: Int64(state.frontier.count),
                                             root: state.frontier.root.hex, chainHead: state.lastHash,
                                             frontier: state.frontier.encoded, time: AuditClock.now(),
                                             keyID: signer.publicKey.id, signature: "")
            checkpoint.signature = signer.sign(checkpoint.signedMessage).hex
            state.checkpoints = checkpoint.number
            state.checkpointedCount = checkpoint.eventCount
            return checkpoint
        }
        guard let checkpoint else { return }
        try db.execute(sql: """
            INSERT INTO checkpoints (number, event_count, root, chain_head, frontier, time, key_id, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [checkpoint.number, checkpoint.eventCount, checkpoint.root, checkpoint.chainHead,
                             JSONValue.array(checkpoint.frontier.map { .string($0) }).canonicalString, checkpoint.time,
                             checkpoint.keyID, checkpoint.signature])
    }

    /// Writes a checkpoint now if events arrived since the last one (the daemon calls this
    /// every few seconds and when it stops).
    public func checkpointNow() throws(AuditError) {
        guard let signer else { return }
        do {
            try pool.write { db in try self.writeCheckpoint(db, signer: signer) }
        } catch {
            reloadTree()
            throw AuditError(.writeFailed, "cannot write a checkpoint to \(path): \(error)")
        }
    }

    /// After a failed write the in-memory tree may be ahead of the database: read it again.
    func reloadTree() {
        guard signer != nil else { return }
        try? pool.read { db in try self.rebuildTree(db) }
    }

    /// Checkpoints in order.
    public func checkpoints() throws(AuditError) -> [AuditCheckpoint] {
        do { return try pool.read { db in try Self.checkpoints(db) } } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    static func checkpoints(_ db: Database) throws -> [AuditCheckpoint] {
        try Row.fetchAll(db, sql: "SELECT * FROM checkpoints ORDER BY number").map { row in
            let frontierText: String = row["frontier"]
            return AuditCheckpoint(number: row["number"], eventCount: row["event_count"], root: row["root"], chainHead: row["chain_head"],
                                   frontier: (try? JSONValue.parse(frontierText))?.arrayValue?.compactMap(\.stringValue) ?? [],
                                   time: row["time"], keyID: row["key_id"], signature: row["signature"])
        }
    }
}
