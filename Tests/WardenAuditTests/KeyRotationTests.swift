import Foundation
import Testing
import WardenVocabulary
import WardenCore
@testable import WardenAudit

/// A rotated signing key: checkpoints before the rotation carry the old key, after it the new,
/// the rotation itself is signed by both, and `verify` accepts the chain from either key and
/// from no other.
@Suite struct KeyRotationTests {
    func log(_ signer: AuditSigner, every: Int64 = 5) throws -> (AuditLog, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-rotation-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try AuditLog(path: dir + "/audit.db", signer: signer, checkpointEvery: every), dir)
    }

    func append(_ log: AuditLog, _ count: Int) async throws {
        for index in 0..<count { try await log.append(kind: "test", payload: ["n": .int(Int64(index))], run: "r", durability: .durable) }
    }

    @Test func theChainVerifiesAcrossARotationFromEitherKey() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (audit, dir) = try log(old)
        try await append(audit, 12)
        let event = try await audit.rotateKey(to: new)
        #expect(event.kind == AuditKind.keyRotated.rawValue)
        #expect(audit.publicKey == new.publicKey)
        try await append(audit, 12)
        try audit.checkpointNow()
        let checkpoints = try audit.checkpoints()
        #expect(checkpoints.filter { $0.eventCount < event.seq }.allSatisfy { $0.keyID == old.publicKey.id })
        #expect(checkpoints.filter { $0.eventCount >= event.seq }.allSatisfy { $0.keyID == new.publicKey.id })
        #expect(checkpoints.contains { $0.eventCount == event.seq })
        for key in [old.publicKey, new.publicKey] {
            let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: key)
            #expect(result.ok, "\(result.problem ?? "")")
            let parallel = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: key, run: nil, fromCheckpoint: nil, parallelFrom: 1)
            #expect(parallel.ok, "\(parallel.problem ?? "")")
        }
        let resumed = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: old.publicKey, fromCheckpoint: Int64(checkpoints.count))
        #expect(resumed.ok, "\(resumed.problem ?? "")")
        #expect(try audit.verify().ok)
        let stranger = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: AuditSigner.generate().publicKey)
        #expect(!stranger.ok && stranger.problem?.contains("none of the log's signing keys") == true, "\(stranger.problem ?? "")")
    }

    @Test func twoRotationsChain() async throws {
        let keys = [AuditSigner.generate(), AuditSigner.generate(), AuditSigner.generate()]
        let (audit, dir) = try log(keys[0], every: 3)
        try await append(audit, 4)
        _ = try await audit.rotateKey(to: keys[1])
        try await append(audit, 4)
        _ = try await audit.rotateKey(to: keys[2])
        try await append(audit, 4)
        try audit.checkpointNow()
        for key in keys {
            let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: key.publicKey)
            #expect(result.ok, "\(result.problem ?? "")")
        }
        #expect(Set(try audit.checkpoints().map(\.keyID)) == Set(keys.map(\.publicKey.id)))
    }

    /// A rotation event forged without the old key's signature is refused, and so is the log.
    @Test func aForgedRotationFailsVerification() async throws {
        let old = AuditSigner.generate()
        let attacker = AuditSigner.generate()
        let (audit, dir) = try log(old)
        try await append(audit, 3)
        let other = AuditSigner.generate()
        var forged = KeyRotation.payload(old: other, new: attacker, time: AuditClock.now(), after: nil)
        forged.oldKey = old.publicKey.hex
        try await audit.append(forged, run: "", durability: .durable)
        try await append(audit, 3)
        try audit.checkpointNow()
        let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: old.publicKey)
        #expect(!result.ok && result.problem?.contains("the old key's signature does not hold") == true, "\(result.problem ?? "")")
    }

    /// The old key exposed: a history it wrote and signed, followed by a copy of the real
    /// rotation event and no checkpoint of the new key, does not verify under the new key.
    @Test func aCopiedRotationDoesNotVouchForAForgedHistory() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (real, _) = try log(old)
        try await append(real, 6)
        let rotation = try await real.rotateKey(to: new)
        // The forger's log: its own events, signed by the old key, then the rotation copied.
        let (forged, dir) = try log(old)
        for index in 0..<8 { try await forged.append(kind: "test", payload: ["forged": .int(Int64(index))], run: "r", durability: .durable) }
        try forged.checkpointNow()
        try await forged.append(kind: rotation.kind, payload: rotation.payload, run: "", durability: .durable)
        let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: new.publicKey)
        #expect(!result.ok, "a copied rotation made the new key vouch for a forged log")
        #expect(result.problem?.contains("not this log's history") == true || result.problem?.contains("no checkpoint covers") == true,
                "\(result.problem ?? "")")
    }

    /// A rotation of 0.2.0 (without `after`) copied likewise is refused for want of a checkpoint
    /// signed by the new key.
    @Test func anUnboundRotationNeedsACheckpointOfTheNewKey() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (forged, dir) = try log(old, every: 1000)
        try await append(forged, 5)
        try forged.checkpointNow()
        try await forged.append(KeyRotation.payload(old: old, new: new, time: AuditClock.now(), after: nil), run: "", durability: .durable)
        let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: new.publicKey)
        #expect(!result.ok && result.problem?.contains("no checkpoint covers") == true, "\(result.problem ?? "")")
        // Under the old key, the log is what it is: the old key's own history.
        #expect(try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: old.publicKey).ok)
    }

    /// A checkpoint after the rotation signed by the old key is found.
    @Test func theOldKeyCannotSignAfterTheRotation() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (audit, dir) = try log(old, every: 1000)
        try await append(audit, 3)
        // The rotation recorded as if done, while the log goes on signing with the old key.
        try await audit.append(KeyRotation.payload(old: old, new: new, time: AuditClock.now(), after: nil), run: "", durability: .durable)
        try await append(audit, 3)
        try audit.checkpointNow()
        let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: old.publicKey)
        #expect(!result.ok && result.problem?.contains("does not carry a valid signature by key \(new.publicKey.id)") == true, "\(result.problem ?? "")")
    }

    @Test func theLastRotatedKeyIsKnownAtOpen() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (audit, dir) = try log(old)
        #expect(audit.lastRotatedKey == nil)
        _ = try await audit.rotateKey(to: new)
        let reopened = try AuditLog(path: dir + "/audit.db", signer: old)
        #expect(reopened.lastRotatedKey == new.publicKey)
        #expect(throws: AuditError.self) { try reopened.adopt(AuditSigner.generate()) }
        try reopened.adopt(new)
        #expect(reopened.publicKey == new.publicKey)
    }
}

/// A crash while a rotation's new key was being written leaves nothing that stops the next start.
@Suite struct PendingKeyTests {
    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pending-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func anEmptyOrPartialPendingKeyIsDiscarded() throws {
        let dir = try directory()
        for leftover in [AuditSigner.pendingKeyFile, AuditSigner.pendingKeyFile + ".partial"] {
            #expect(FileManager.default.createFile(atPath: dir + "/" + leftover, contents: Data([1, 2, 3]),
                                                   attributes: [.posixPermissions: 0o600]))
        }
        #expect(try AuditSigner.pending(in: dir) == nil)
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + AuditSigner.pendingKeyFile))
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + AuditSigner.pendingKeyFile + ".partial"))
    }

    @Test func aWrittenKeyIsWholeAndPrivate() throws {
        let dir = try directory()
        let signer = AuditSigner.generate()
        try signer.write(to: dir + "/" + AuditSigner.pendingKeyFile)
        #expect(try AuditSigner.pending(in: dir)?.publicKey == signer.publicKey)
        var info = stat()
        #expect(stat(dir + "/" + AuditSigner.pendingKeyFile, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(throws: AuditError.self) { try signer.write(to: dir + "/" + AuditSigner.pendingKeyFile) }
    }
}
