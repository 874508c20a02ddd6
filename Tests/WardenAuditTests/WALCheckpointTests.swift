import Foundation
import Testing
import WardenCore
@testable import WardenAudit

/// The WAL is copied into the database file by a thread of its own, and the writer bounds it
/// when that thread falls behind (`WALCheckpointer`).
@Suite struct WALCheckpointTests {
    static func fileSize(_ path: String) -> Int64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
    }

    /// 150 commits of a 2 KiB event each: about 500 WAL pages, under SQLite's own automatic
    /// checkpoint (1,000), so only Warden's checkpoints can move them.
    static func appendCommits(_ log: AuditLog) async throws {
        let filler = String(repeating: "x", count: 2048)
        for index in 0..<150 {
            try await log.append(kind: "tool.call", payload: ["i": .int(Int64(index)), "filler": .string(filler)], run: "wal", agent: "a", durability: .durable)
        }
    }

    static func freshPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-wal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/audit.db"
    }

    /// With the writer never checkpointing, the events still reach the database file: the
    /// background thread copied them (SQLite's own automatic checkpoint is replaced, and its
    /// 1,000 pages would not be reached here).
    @Test func theBackgroundThreadCopiesTheWAL() async throws {
        let path = try Self.freshPath()
        let log = try AuditLog(path: path, signer: nil, checkpointEvery: 1000, walPages: (background: 16, writer: .max))
        let before = Self.fileSize(path)
        try await Self.appendCommits(log)
        log.waitForWALCheckpoint()
        #expect(Self.fileSize(path) - before > 300_000)
        #expect(try log.events(run: "wal").count == 150)
        #expect(try AuditLog.verify(fileAt: path).ok)
    }

    /// With no background checkpoints, the writer checkpoints itself once the WAL passes its
    /// limit, and the WAL starts again from its beginning instead of growing with the log.
    @Test func theWriterBoundsTheWALWhenTheThreadFallsBehind() async throws {
        let path = try Self.freshPath()
        let log = try AuditLog(path: path, signer: nil, checkpointEvery: 1000, walPages: (background: .max, writer: 64))
        try await Self.appendCommits(log)
        let wal = Self.fileSize(path + "-wal")
        #expect(wal > 0)
        #expect(wal < 100 * 4096 + 100_000, "the WAL grew to \(wal) bytes")
        #expect(Self.fileSize(path) > 300_000)
        #expect(try AuditLog.verify(fileAt: path).ok)
    }
}
