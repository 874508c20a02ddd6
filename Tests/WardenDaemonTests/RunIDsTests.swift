import Foundation
import Testing
import WardenAudit
@testable import WardenDaemon

/// Run ids must never repeat: two runs under one id mix their evidence in the audit log.
@Suite struct RunIDsTests {
    /// Thousands of ids at once from several threads — far more than the 65,536 random suffixes of
    /// a second allow without repeats by chance (5,000 draws repeat one about 190 times) — and
    /// no two alike, all in the documented form.
    @Test func idsIssuedTogetherAreAllDifferent() async {
        let ids = RunIDs()
        let drawn = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<1250).map { _ in ids.next("run") } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(drawn.count == 5000)
        #expect(Set(drawn).count == drawn.count)
        let form = /run-\d{8}-\d{6}-[0-9a-f]{4}/
        #expect(drawn.allSatisfy { $0.wholeMatch(of: form) != nil })
    }

    /// An id reported taken (the audit log holds it: a run before a restart within the same
    /// second) is passed over for another.
    @Test func aTakenIdIsPassedOver() {
        let ids = RunIDs()
        var refused: [String] = []
        let id = ids.next("suite") { candidate in
            guard refused.count < 50 else { return false }
            refused.append(candidate)
            return true
        }
        #expect(refused.count == 50)
        #expect(!refused.contains(id))
        #expect(id.hasPrefix("suite-"))
    }

    /// What counts as taken: any event under the id in the audit log.
    @Test func anIdIsUsedOnceTheAuditLogHoldsIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-runids-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let audit = try AuditLog(path: directory + "/audit.db")
        let id = RunIDs().next("run", unusedIn: audit)
        #expect(!RunIDs.isUsed(id, in: audit))
        try audit.appendNow(kind: "run.rejected", payload: [:], run: id, durability: .durable)
        #expect(RunIDs.isUsed(id, in: audit))
        #expect(!RunIDs.isUsed(id + "0", in: audit))
    }
}
