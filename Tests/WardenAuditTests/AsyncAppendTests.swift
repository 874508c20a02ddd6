import Crypto
import Foundation
import GRDB
import Synchronization
import Testing
import WardenVocabulary
import WardenCore
@testable import WardenAudit

/// A log with one event of run "r" ("before") whose writer refuses events of kind "refused"
/// (an insert trigger), as a full disk would refuse everything.
func logRefusingOneKind() async throws -> AuditLog {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let log = try AuditLog(path: directory + "/audit.db")
    try await log.append(kind: "before", payload: [:], run: "r", durability: .durable)
    try await DatabaseQueue(path: directory + "/audit.db").write { db in
        try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.kind = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by test'); END")
    }
    return log
}

@Suite struct AsyncAppendTests {
    /// Tasks appending at once, mixed with blocking threads and linked pairs: each gets its own
    /// durable event, pairs stay together, nothing is lost or duplicated, and the log verifies.
    @Test func tasksAndThreadsAppendTogether() async throws {
        let (log, path, _) = try signedLog(events: 1)
        let threadDone = DispatchSemaphore(value: 0)
        let threadSeqs = Mutex<[Int64]>([])
        Thread {
            for index in 0..<300 {
                if let event = try? log.appendNow(kind: "t", payload: ["i": .int(Int64(index))], run: "mixed", agent: "thread", durability: .durable) {
                    threadSeqs.withLock { $0.append(event.seq) }
                }
            }
            threadDone.signal()
        }.start()
        let taskSeqs = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for task in 0..<64 {
                group.addTask {
                    var seqs: [Int64] = []
                    for index in 0..<20 {
                        if index % 4 == 0 {
                            let (call, decision) = try log.appendNow(ToolCallEvent(tool: "t", arguments: ["i": .int(Int64(index))]),
                                                                     then: PolicyDecision(tool: "t", decision: .allow), linking: "call",
                                                                     run: "mixed", agent: "task-\(task)")
                            #expect(decision.seq == call.seq + 1 && decision.payload["call"] == .int(call.seq))
                            seqs += [call.seq, decision.seq]
                        } else {
                            seqs.append(try await log.append(kind: "a", payload: ["i": .int(Int64(index))], run: "mixed", agent: "task-\(task)", durability: .durable)!.seq)
                        }
                    }
                    return seqs
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        threadDone.wait()
        let all = (taskSeqs + threadSeqs.withLock { $0 }).sorted()
        #expect(all.count == 64 * 25 + 300)
        #expect(Set(all).count == all.count)
        // Every event returned is stored, under the seq it was returned with.
        #expect(all == Array(2...Int64(all.count + 1)))
        try log.checkpointNow()
        let result = try AuditLog.verify(fileAt: path)
        #expect(result.ok, "\(result)")
        #expect(result.events == Int64(all.count + 1))
    }

    /// A failed write fails every task waiting on it, with the reason, and the log stays whole.
    @Test func aFailedBatchFailsItsTasks() async throws {
        let log = try await logRefusingOneKind()
        await #expect(throws: AuditError.self) { try await log.append(kind: "refused", payload: [:], run: "r", durability: .durable) }
        try await log.append(kind: "after", payload: [:], run: "r", durability: .durable)
        #expect(try log.verify().ok)
        #expect(try log.events(run: "r").map(\.kind) == ["before", "after"])
    }
}

@Suite struct RowInsertTests {
    /// Empty columns are stored as empty text, not NULL (an empty String may have no buffer).
    @Test func emptyStringsAreTextNotNull() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = try AuditLog(path: directory + "/audit.db")
        try await log.append(kind: "", payload: "", run: "", agent: "", durability: .durable)
        let stored = try await DatabaseQueue(path: directory + "/audit.db").read { db in
            try String.fetchOne(db, sql: "SELECT typeof(run_id) || ',' || typeof(agent) || ',' || typeof(kind) || ',' || payload FROM events")
        }
        #expect(stored == "text,text,text,\"\"")
        #expect(try log.verify().ok)
    }
}

@Suite struct StackSHA256Tests {
    /// The stack hashes are swift-crypto's SHA-256, piece by piece.
    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 300, 4096])
    func matchesSwiftCrypto(_ length: Int) {
        let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let split = length / 3
        let digest = data.withUnsafeBytes { whole in
            StackSHA256.hash(prefix: 9, UnsafeRawBufferPointer(rebasing: whole[..<split]), UnsafeRawBufferPointer(rebasing: whole[split...]))
        }
        #expect(digest.bytes == Array(SHA256.hash(data: [9] + data)))
        #expect(digest.hex == lowercaseHex(Array(SHA256.hash(data: [9] + data))))
        let hex = Array(digest.hex.utf8)
        #expect(hex.withUnsafeBufferPointer { digest.matches(hex: $0) })
        var altered = hex
        altered[63] = altered[63] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        #expect(!altered.withUnsafeBufferPointer { digest.matches(hex: $0) })
        #expect(!Array(hex.dropLast()).withUnsafeBufferPointer { digest.matches(hex: $0) })
    }

    /// A leaf begun over an entry's head by the appender and finished by the writer is the
    /// leaf hash of the whole entry, as verification computes it.
    @Test(arguments: [("run-1", "agent-1", "tool.call", #"{"a":1}"#), ("", "", "", "\"\""),
                      ("r\"ü\n", "a\\b", "kind", String(repeating: "x", count: 300))])
    func aPartialLeafFinishesAsTheWholeEntry(_ run: String, _ agent: String, _ kind: String, _ payloadText: String) {
        for seq: Int64 in [1, 63, 1_000_000_007] {
            let time = AuditClock.now()
            let whole = AuditChain.entryBytes(seq: seq, run: run, agent: agent, kind: kind, time: time, payloadText: payloadText)
            var tail: [UInt8] = []
            AuditChain.appendEntryTail(seq: seq, time: time, to: &tail)
            let partial = PartialLeaf(head: AuditChain.entryHead(run: run, agent: agent, kind: kind, payloadText: payloadText))
            #expect(tail.withUnsafeBytes { partial.finish(tail: $0) } == whole.withUnsafeBytes { StackSHA256.leaf($0) })
        }
    }

    /// The chain link and the Merkle node, each hashed in one piece from the stack, are SHA-256
    /// over the concatenation (with 0x01 first for a node).
    @Test func linkAndNodeAreHashesOfTheConcatenation() {
        let left = Array(SHA256.hash(data: Array("left".utf8))), right = Array(SHA256.hash(data: Array("right".utf8)))
        #expect(StackSHA256.link(Digest32(left), Digest32(right)).bytes == Array(SHA256.hash(data: left + right)))
        #expect(StackSHA256.node(Digest32(left), Digest32(right)).bytes == Array(SHA256.hash(data: [1] + left + right)))
    }

    /// RFC 6962's empty-tree hash and a known vector.
    @Test func knownVectors() {
        #expect(Merkle.emptyRoot.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Array("abc".utf8).withUnsafeBytes { StackSHA256.hash($0) }.hex
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [Int64(0), 7, 10, 99, 1_000_000, 999_999_999_999_999_999, Int64.max, -5])
    func decimalDigitsAreStringsDigits(_ value: Int64) {
        var out: [UInt8] = [UInt8(ascii: "x")]
        appendDecimal(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x" + String(value))
    }
}
