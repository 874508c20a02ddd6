import Foundation
import Testing
import WardenAudit
import WardenCore
import WardenVocabulary

/// The concurrency rule's check: a blocking append counts as a violation unless its thread
/// holds the permit.
@Suite struct BlockingPermitTests {
    @Test func aBlockingAppendOffAPermittedThreadIsCounted() async throws {
        let directory = NSTemporaryDirectory() + "warden-permit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try AuditLog(path: directory + "/audit.db")
        let payload = RunsPruned(olderThan: "0s", runs: [], bytes: 0, caller: Caller(uid: 0, gid: 0, pid: 1))

        // On a thread that holds the permit: not counted.
        let permitted: Int = await withCheckedContinuation { continuation in
            Thread {
                BlockingPermit.grant()
                let before = BlockingPermit.violations
                _ = try? log.appendNow(payload, run: "", durability: .durable)
                continuation.resume(returning: BlockingPermit.violations - before)
            }.start()
        }
        #expect(permitted == 0)
        // On a thread without it: counted. (Other tests may append concurrently, so at least one.)
        let unpermitted: Int = await withCheckedContinuation { continuation in
            Thread {
                let before = BlockingPermit.violations
                _ = try? log.appendNow(payload, run: "", durability: .durable)
                continuation.resume(returning: BlockingPermit.violations - before)
            }.start()
        }
        #expect(unpermitted >= 1)
    }
}
