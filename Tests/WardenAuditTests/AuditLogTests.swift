import Foundation
import Glibc
import GRDB
import Testing
import WardenCore
@testable import WardenAudit

/// A fresh audit database in its own temporary directory.
func temporaryAuditLog() throws -> (AuditLog, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/audit.db"
    return (try AuditLog(path: path), path)
}

/// What an attacker with the file can do: plain SQL, with the append-only triggers dropped.
func tamper(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.write { db in
        try db.execute(sql: "DROP TRIGGER IF EXISTS events_append_only_update; DROP TRIGGER IF EXISTS events_append_only_delete;")
        try db.execute(sql: sql)
    }
}

@Suite struct AuditLogTests {
    func filled() async throws -> (AuditLog, String) {
        let (log, path) = try temporaryAuditLog()
        for index in 1...10 {
            try await log.append(kind: "tool.call", payload: ["n": .int(Int64(index)), "tool": "list_files"], run: "run-1", agent: "agent-1", durability: .durable)
        }
        return (log, path)
    }

    @Test func chainsAndVerifies() async throws {
        let (log, _) = try await filled()
        let events = try log.events(run: "run-1")
        #expect(events.count == 10)
        #expect(events[0].prevHash == AuditChain.genesis)
        for (previous, event) in zip(events, events.dropFirst()) { #expect(event.prevHash == previous.hash) }
        let result = try log.verify()
        #expect(result.ok)
        #expect(result.events == 10)
    }

    /// Names that JSON must escape (quotes, backslashes, control bytes, long ones, negative-looking
    /// numbers in payloads) are written into each entry as the writer wrote them: the verifier
    /// rebuilds every entry byte for byte, so any difference would fail the check.
    @Test func entriesWithEscapedStringsVerify() async throws {
        let (log, path) = try temporaryAuditLog()
        let names = ["r\"ü\n", "a\\b\t", "k\u{1}\u{1f}\u{8}\u{c}\r", String(repeating: "\"", count: 700), "", "plain"]
        for (index, name) in names.enumerated() {
            try await log.append(kind: names[(index + 2) % names.count], payload: ["n": .int(-Int64(index) - 1), "text": .string(name)], run: name, agent: names[(index + 1) % names.count], durability: .durable)
        }
        #expect(try log.verify().ok)
        #expect(try AuditLog.verify(fileAt: path).events == Int64(names.count))
        // And an escape changed in the stored row is found: the verifier does not just trust
        // what it reads.
        try tamper(path, #"UPDATE events SET agent = 'a\b' || char(9) || 'x' WHERE seq = 1"#)
        #expect(try AuditLog.verify(fileAt: path).firstBadSeq == 1)
    }

    /// Every commit is fsynced (write-ahead): the writer runs with synchronous=FULL, not the
    /// NORMAL that GRDB's pool sets when it turns WAL on (which syncs only at checkpoints).
    @Test func commitsAreSyncedOnTheWriterConnection() async throws {
        let (log, _) = try await filled()
        #expect(try log.writerSynchronousMode() == 2)
    }

    @Test func triggersRefuseUpdateAndDelete() async throws {
        let (_, path) = try await filled()
        let queue = try DatabaseQueue(path: path)
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "UPDATE events SET kind = 'x' WHERE seq = 3") } }
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM events WHERE seq = 3") } }
    }

    @Test func detectsAnAlteredPayload() async throws {
        let (log, path) = try await filled()
        try tamper(path, #"UPDATE events SET payload = '{"n":4,"tool":"delete_file"}' WHERE seq = 4"#)
        let result = try log.verify()
        #expect(!result.ok)
        #expect(result.firstBadSeq == 4)
        #expect(result.problem?.contains("altered") == true)
    }

    @Test func detectsAnAlteredHash() async throws {
        let (log, path) = try await filled()
        try tamper(path, "UPDATE events SET hash = '\(String(repeating: "a", count: 64))' WHERE seq = 6")
        let result = try log.verify()
        #expect(result.firstBadSeq == 6)
    }

    @Test func detectsARemovedEvent() async throws {
        let (log, path) = try await filled()
        try tamper(path, "DELETE FROM events WHERE seq = 5")
        let result = try log.verify()
        #expect(!result.ok)
        #expect(result.firstBadSeq == 5)
        #expect(result.problem?.contains("missing") == true)
    }

    @Test func detectsAnInsertedEvent() async throws {
        let (log, path) = try await filled()
        // Make room by renumbering the tail, then insert a forged event at seq 8.
        try tamper(path, """
            UPDATE events SET seq = seq + 100 WHERE seq >= 8;
            UPDATE events SET seq = seq - 99 WHERE seq >= 108;
            INSERT INTO events (seq, run_id, agent, kind, time, payload, prev_hash, hash)
              SELECT 8, run_id, agent, kind, time, '{"forged":true}', hash, hash FROM events WHERE seq = 7;
            """)
        let result = try log.verify()
        #expect(!result.ok)
        #expect(result.firstBadSeq == 8)
    }

    @Test func detectsATruncatedTailWhileTheWriterIsOpen() async throws {
        let (log, path) = try await filled()
        try tamper(path, "DELETE FROM events WHERE seq >= 9")
        let result = try log.verify()
        #expect(!result.ok)
        #expect(result.firstBadSeq == 9)
        #expect(result.problem?.contains("truncated") == true)
    }

    @Test func verifiesACopyWithoutTheDaemon() async throws {
        let (_, path) = try await filled()
        #expect(try AuditLog.verify(fileAt: path).ok)
        try tamper(path, "UPDATE events SET agent = 'agent-2' WHERE seq = 2")
        let result = try AuditLog.verify(fileAt: path)
        #expect(result.firstBadSeq == 2)
    }

    @Test func refusesAnUnopenableDatabase() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: dir + "/audit.db"))
        chmod(dir + "/audit.db", 0o600)
        let error = #expect(throws: AuditError.self) { try AuditLog(path: dir + "/audit.db") }
        #expect(error?.code == .notAWardenLog)
        #expect(error?.message.contains("will not write over it") == true)
    }

    /// The log, its WAL and shm are wardend's alone whatever the umask; one others can read is refused.
    @Test func theLogIsPrivateWhateverTheUmask() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o777)
        let previous = umask(0)
        let audit: AuditLog
        do { audit = try AuditLog(path: dir + "/audit.db") } catch {
            umask(previous)
            throw error
        }
        umask(previous)
        try await audit.append(kind: "test", payload: [:], run: "r", durability: .durable)
        for file in ["audit.db", "audit.db-wal", "audit.db-shm"] {
            var info = stat()
            #expect(stat(dir + "/" + file, &info) == 0, "\(file) missing")
            #expect(info.st_mode & 0o777 == 0o600, "\(file) has mode \(String(info.st_mode & 0o777, radix: 8))")
        }
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: other + "/audit.db", contents: nil)
        chmod(other + "/audit.db", 0o644)
        let refused = #expect(throws: AuditError.self) { try AuditLog(path: other + "/audit.db") }
        #expect(refused?.message.contains("readable by others (mode 644)") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.contains("chmod 600") == true)
    }
}
