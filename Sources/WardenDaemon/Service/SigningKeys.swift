import Logging
import WardenAudit
import WardenCore

/// The checkpoint-signing key in the state directory and its rotations. A rotation writes the
/// new key to `audit-signing.key.new` first, records the rotation in the log (signed by both
/// keys), and only then renames the new key over the old one; at start, a new key left
/// pending is taken if the log's last rotation names it and discarded if not. So a stop at any
/// moment leaves the key that signs the log's next checkpoint where the next start finds it.
actor SigningKeys {
    let directory: String
    let audit: AuditLog
    private var rotating = false

    init(directory: String, audit: AuditLog) {
        self.directory = directory
        self.audit = audit
    }

    /// The key to open the log with, and what start-up must do about a pending rotation.
    static func load(in directory: String) throws(AuditError) -> (current: AuditSigner, pending: AuditSigner?) {
        (try AuditSigner.loadOrCreate(in: directory), try AuditSigner.pending(in: directory))
    }

    /// Settles a rotation a stop interrupted, once the log is open: the log's last rotation
    /// decides which key is in force. Throws when the state directory lacks that key.
    static func settle(audit: AuditLog, current: AuditSigner, pending: AuditSigner?, directory: String, logger: Logger) throws(AuditError) {
        let rotated = audit.lastRotatedKey
        if let rotated, rotated != current.publicKey {
            guard let pending, pending.publicKey == rotated else {
                throw AuditError(.key, "the audit log's signing key was rotated to \(rotated.id), but \(directory)/\(AuditSigner.privateKeyFile) "
                    + "holds key \(current.publicKey.id): restore the key the log names, or wardend cannot sign its checkpoints")
            }
            try audit.adopt(try AuditSigner.promotePending(in: directory))
            logger.notice("finished a key rotation an earlier stop interrupted", metadata: ["key": "\(rotated.id)"])
        } else if pending != nil {
            AuditSigner.discardPending(in: directory)
            logger.notice("discarded a new signing key whose rotation never reached the log")
        }
    }

    struct Rotated: Sendable {
        var old: AuditPublicKey
        var new: AuditPublicKey
        var seq: Int64
    }

    /// Makes a new key and rotates the log to it.
    func rotate() async throws -> Rotated {
        guard !rotating else { throw DaemonError(.run, "a key rotation is already under way") }
        rotating = true
        defer { rotating = false }
        guard let old = audit.publicKey else { throw DaemonError(.run, "this daemon signs no checkpoints") }
        let new = AuditSigner.generate()
        AuditSigner.discardPending(in: directory)
        try new.write(to: directory + "/" + AuditSigner.pendingKeyFile)
        let event: AuditEvent
        do { event = try await audit.rotateKey(to: new) } catch {
            if audit.publicKey == old { AuditSigner.discardPending(in: directory) }
            throw error
        }
        _ = try AuditSigner.promotePending(in: directory)
        return Rotated(old: old, new: new.publicKey, seq: event.seq)
    }
}
