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
        var forged = KeyRotation.payload(old: other, new: attacker, time: AuditClock.now())
        forged.oldKey = old.publicKey.hex
        try await audit.append(forged, run: "", durability: .durable)
        try await append(audit, 3)
        try audit.checkpointNow()
        let result = try AuditLog.verify(fileAt: dir + "/audit.db", publicKey: old.publicKey)
        #expect(!result.ok && result.problem?.contains("the old key's signature does not hold") == true, "\(result.problem ?? "")")
    }

    /// A checkpoint after the rotation signed by the old key is found.
    @Test func theOldKeyCannotSignAfterTheRotation() async throws {
        let old = AuditSigner.generate()
        let new = AuditSigner.generate()
        let (audit, dir) = try log(old, every: 1000)
        try await append(audit, 3)
        // The rotation recorded as if done, while the log goes on signing with the old key.
        try await audit.append(KeyRotation.payload(old: old, new: new, time: AuditClock.now()), run: "", durability: .durable)
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
