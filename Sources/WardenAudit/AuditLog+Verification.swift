import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import WardenCore
import WardenVocabulary

/// Verifying the log (chain, checkpoints, signatures) and proving an entry's inclusion.
extension AuditLog {
    /// Recomputes the chain, the checkpoints' roots and signatures (all of the log, from
    /// checkpoint `fromCheckpoint`, or one run's events); see `AuditVerifier`.
    public func verify(run: String? = nil, fromCheckpoint: Int64? = nil) throws(AuditError) -> AuditVerification {
        let head = knownHead.withLock { $0 }
        let key = signer?.publicKey
        do {
            if run == nil, fromCheckpoint == nil {
                let pool = self.pool
                return try AuditVerifier.verifyInParallel(expectedHead: head, publicKey: key, read: { body in try pool.read(body) },
                                                          checkpoints: try pool.read { db in try Self.checkpoints(db) })
            }
            return try pool.read { db in
                if let run { return try AuditVerifier.verifyRun(db, run: run) }
                return try AuditVerifier.verify(db, expectedHead: head, publicKey: key, fromCheckpoint: fromCheckpoint)
            }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Verifies a database file without a running daemon (a copy on another machine). The
    /// public key is `publicKey`, else `audit-signing.pub` next to the file, if there.
    public static func verify(fileAt path: String, publicKey: AuditPublicKey? = nil, run: String? = nil,
                              fromCheckpoint: Int64? = nil) throws(AuditError) -> AuditVerification {
        try verify(fileAt: path, publicKey: publicKey, run: run, fromCheckpoint: fromCheckpoint, parallelFrom: 100_000)
    }

    /// `parallelFrom`: logs with at least this many checkpointed events are checked on two cores.
    static func verify(fileAt path: String, publicKey: AuditPublicKey?, run: String?, fromCheckpoint: Int64?,
                       parallelFrom: Int64) throws(AuditError) -> AuditVerification {
        let key = try publicKeyBeside(path, given: publicKey)
        if run == nil, fromCheckpoint == nil {
            let checkpoints = try readOnly(path) { db -> [AuditCheckpoint] in
                try AuditVerifier.requireWardenLog(db)
                return try AuditLog.checkpoints(db)
            }
            do {
                return try AuditVerifier.verifyInParallel(expectedHead: 0, publicKey: key, read: { body in try readOnly(path, body) },
                                                          checkpoints: checkpoints, parallelFrom: parallelFrom)
            } catch let error as AuditError {
                throw error
            } catch {
                throw AuditError(.readFailed, "cannot read the audit database \(path): \(error)")
            }
        }
        return try readOnly(path) { db in
            if let run { return try AuditVerifier.verifyRun(db, run: run) }
            return try AuditVerifier.verify(db, expectedHead: 0, publicKey: key, fromCheckpoint: fromCheckpoint)
        }
    }

    static func publicKeyBeside(_ path: String, given: AuditPublicKey? = nil) throws(AuditError) -> AuditPublicKey? {
        if let given { return given }
        let beside = (path as NSString).deletingLastPathComponent + "/" + AuditSigner.publicKeyFile
        guard FileManager.default.fileExists(atPath: beside) else { return nil }
        return try AuditPublicKey.load(beside)
    }

    /// Runs `body` on a read-only connection to the file at `path`, turning SQLite's complaints
    /// about files that are not (whole) databases into errors that say so.
    static func readOnly<T>(_ path: String, _ body: (Database) throws -> T) throws(AuditError) -> T {
        guard FileManager.default.fileExists(atPath: path) else { throw AuditError(.readFailed, "\(path) does not exist") }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            // Two readers at once (a parallel check), or a live daemon writing: wait, don't fail.
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in try body(db) }
        } catch let error as AuditError where error.code == .notAWardenLog {
            throw AuditError(.notAWardenLog, "\(path) is not a Warden audit database: \(error.message)")
        } catch let error as AuditError {
            throw error
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            throw AuditError(.notAWardenLog, "\(path) is not a Warden audit database, or is truncated or damaged: \(error.message ?? "\(error)")")
        } catch {
            throw AuditError(.readFailed, "cannot read the audit database \(path): \(error)")
        }
    }

    /// An inclusion proof of event `seq` against the latest checkpoint that covers it.
    public func proof(seq: Int64) throws(AuditError) -> JSONValue {
        let key = signer?.publicKey
        do {
            return try pool.read { db in try AuditProof.make(db, seq: seq, publicKey: key) }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(.readFailed, "cannot read the audit log \(path): \(error)")
        }
    }

    public static func proof(fileAt path: String, seq: Int64, publicKey: AuditPublicKey? = nil) throws(AuditError) -> JSONValue {
        let key = try publicKeyBeside(path, given: publicKey)
        return try readOnly(path) { db in try AuditProof.make(db, seq: seq, publicKey: key) }
    }
}
