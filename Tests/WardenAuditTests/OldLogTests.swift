import Foundation
import Testing
import WardenCore
import WardenVocabulary
@testable import WardenAudit

/// A log written by Warden 0.2.0 (a suite, a shell run, a key rotation, a daemon stop), kept
/// as it was: this version verifies it byte for byte and reads every event as its kind's type.
@Suite struct OldLogTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        + "/Fixtures/logs/warden-0.2.0"

    /// A private copy (verification opens the file read-only, but SQLite may want its -shm).
    func copy() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-oldlog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture + "/audit.db", toPath: dir + "/audit.db")
        return dir + "/audit.db"
    }

    @Test func itVerifiesUnderTheKeyItRotatedTo() throws {
        let key = try AuditPublicKey(hex: String(contentsOfFile: Self.fixture + "/audit-signing.pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        let result = try AuditLog.verify(fileAt: try copy(), publicKey: key)
        #expect(result.ok, "\(result.problem ?? "")")
        #expect(result.events > 400)
    }

    @Test func everyEventDecodesAsItsKind() throws {
        let log = try AuditLog.openReadOnly(path: try copy())
        let events = try log.events(limit: 100_000)
        var kinds: Set<String> = []
        for event in events {
            let kind = try #require(event.auditKind, "event \(event.seq): unknown kind \(event.kind)")
            kinds.insert(event.kind)
            #expect(throws: Never.self, "event \(event.seq) (\(event.kind))") { _ = try kind.payloadType.decoded(from: event.payload) }
        }
        // The fixture holds the kinds a run, a suite, a shell and a rotation write.
        for kind: AuditKind in [.runStart, .runEnd, .suiteStart, .toolCall, .toolResult, .policyDecision, .syscall, .syscallSummary,
                                .worldSnapshot, .worldDiff, .verdict, .gate, .keyRotated, .modelRequest, .modelResponse, .daemonStop] {
            #expect(kinds.contains(kind.rawValue), "no \(kind.rawValue) event in the fixture")
        }
    }

    /// A changed byte in the old log is found, so the pass above means something.
    @Test func aChangedOldLogFails() throws {
        let path = try copy()
        let key = try AuditPublicKey(hex: String(contentsOfFile: Self.fixture + "/audit-signing.pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        try tamper(path, "UPDATE events SET payload = replace(payload, 'misrepresentation', 'complied') WHERE kind = 'verdict'")
        #expect(!(try AuditLog.verify(fileAt: path, publicKey: key)).ok)
    }
}
