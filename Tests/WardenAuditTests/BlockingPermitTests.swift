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

        // On a thread that holds the permit: not counted. (Counts are read per thread: other
        // tests of this process append at the same time.)
        let permitted: Int = await withCheckedContinuation { continuation in
            Thread {
                BlockingPermit.grant()
                _ = try? log.appendNow(payload, run: "", durability: .durable)
                continuation.resume(returning: BlockingPermit.violationsOnThisThread)
            }.start()
        }
        #expect(permitted == 0)
        // On a thread without it: counted, on the thread and in the process's total.
        let (unpermitted, total): (Int, Int) = await withCheckedContinuation { continuation in
            Thread {
                let before = BlockingPermit.violations
                _ = try? log.appendNow(payload, run: "", durability: .durable)
                continuation.resume(returning: (BlockingPermit.violationsOnThisThread, BlockingPermit.violations - before))
            }.start()
        }
        #expect(unpermitted == 1 && total >= 1)
    }
}
