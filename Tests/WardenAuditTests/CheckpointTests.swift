import Foundation
import Synchronization
import GRDB
import Testing
import WardenVocabulary
import WardenCore
@testable import WardenAudit

@Suite struct MerkleTests {
    func leaves(_ count: Int) -> [Merkle.Hash] { (0..<count).map { Merkle.leafHash(Array("leaf \($0)".utf8)) } }

    /// RFC 6962's empty-tree hash, and a frontier that always agrees with the recursive definition.
    @Test func frontierRootsMatchTheDefinition() {
        #expect(Merkle.root([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var frontier = Merkle.Frontier()
        let all = leaves(70)
        for count in 1...70 {
            frontier.append(all[count - 1])
            #expect(frontier.root == Merkle.root(all.prefix(count)), "size \(count)")
            let encoded = frontier.encoded
            #expect(Merkle.Frontier(encoded: encoded, count: count)?.root == frontier.root)
        }
    }

    /// Every leaf of trees of many sizes proves, and only with its own hash, index and root.
    @Test func inclusionProofsHoldOnlyForTheirLeaf() {
        for size in [1, 2, 3, 5, 8, 13, 31, 32, 33] {
            let all = leaves(size)
            let root = Merkle.root(all[...])
            for index in 0..<size {
                let path = Merkle.inclusionProof(index: index, leaves: all[...])
                #expect(Merkle.verifyInclusion(leaf: all[index], index: index, size: size, path: path, root: root), "size \(size) leaf \(index)")
                #expect(!Merkle.verifyInclusion(leaf: Merkle.leafHash(Array("other".utf8)), index: index, size: size, path: path, root: root))
                if size > 1 {
                    #expect(!Merkle.verifyInclusion(leaf: all[index], index: (index + 1) % size, size: size, path: path, root: root))
                }
            }
        }
    }
}

func freshDirectory(_ prefix: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A signed log in a temporary directory: checkpoints every 4 events.
func signedLog(events: Int = 10) throws -> (AuditLog, String, AuditPublicKey) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-signed-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let signer = try AuditSigner.loadOrCreate(in: dir)
    let log = try AuditLog(path: dir + "/audit.db", signer: signer, checkpointEvery: 4)
    for index in 1...events {
        try log.appendNow(kind: "tool.call", payload: ["n": .int(Int64(index)), "tool": "transfer_file"], run: index <= 6 ? "run-a" : "run-b", agent: "agent-1", durability: .durable)
    }
    try log.checkpointNow()
    return (log, dir + "/audit.db", signer.publicKey)
}

/// What an attacker with the file can do: plain SQL with the append-only triggers dropped.
func tamperSigned(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.write { db in
        for trigger in ["events_append_only_update", "events_append_only_delete", "checkpoints_append_only_update",
                        "checkpoints_append_only_delete"] {
            try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)")
        }
        try db.execute(sql: sql)
    }
}

@Suite struct CheckpointTests {
    @Test func checkpointsAreSignedAndVerified() throws {
        let (log, path, key) = try signedLog()
        let checkpoints = try log.checkpoints()
        #expect(checkpoints.map(\.eventCount) == [4, 8, 10])
        #expect(checkpoints.allSatisfy { $0.isSigned(by: key) })
        let result = try AuditLog.verify(fileAt: path)
        #expect(result.ok, "\(result)")
        #expect(result.checkpoints == 3)
        // Resuming from a checkpoint's signed frontier gives the same verdict.
        #expect(try AuditLog.verify(fileAt: path, fromCheckpoint: 2).ok)
    }

    @Test func theKeyFileIsPrivateAndReused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let first = try AuditSigner.loadOrCreate(in: dir)
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/audit-signing.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try AuditSigner.loadOrCreate(in: dir).publicKey == first.publicKey)
        chmod(dir + "/audit-signing.key", 0o644)
        let error = #expect(throws: AuditError.self) { try AuditSigner.loadOrCreate(in: dir) }
        #expect(error?.code == .key)
    }

    /// Every form of tampering is found, and located.
    @Test(arguments: [
        ("payload", "UPDATE events SET payload = replace(payload, '\"n\":5', '\"n\":50') WHERE seq = 5", Int64?(5), Int64?(nil)),
        // The first hex digit rotated to the next one: always a change.
        ("hash", "UPDATE events SET hash = substr('0123456789abcdef', instr('0123456789abcdef', substr(hash, 1, 1)) % 16 + 1, 1) || substr(hash, 2) WHERE seq = 3", 3, nil),
        // The last event: checked after the walk over the rows has ended.
        ("last payload", "UPDATE events SET payload = replace(payload, '\"n\":10', '\"n\":11') WHERE seq = 10", 10, nil),
        ("delete", "DELETE FROM events WHERE seq = 7", 7, nil),
        ("insert", "UPDATE events SET seq = seq + 100 WHERE seq > 6; INSERT INTO events SELECT 7, run_id, agent, kind, time, payload, prev_hash, hash FROM events WHERE seq = 6", 7, nil),
        ("reorder", "UPDATE events SET seq = -1 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = -1", 2, nil),
        ("truncate", "DELETE FROM events WHERE seq > 9", 10, 3),
        ("signature", "UPDATE checkpoints SET signature = substr('0123456789abcdef', instr('0123456789abcdef', substr(signature, 1, 1)) % 16 + 1, 1) || substr(signature, 2) WHERE number = 2", nil, 2),
        ("checkpoint root", "UPDATE checkpoints SET root = (SELECT root FROM checkpoints WHERE number = 1) WHERE number = 2", nil, 2),
        ("checkpoint removed", "DELETE FROM checkpoints WHERE number = 2", nil, 2),
    ])
    func tamperingIsFoundAndLocated(_ form: String, _ sql: String, _ event: Int64?, _ checkpoint: Int64?) throws {
        let (_, path, _) = try signedLog()
        try tamperSigned(path, sql)
        let result = try AuditLog.verify(fileAt: path)
        #expect(!result.ok, "\(form) went unnoticed")
        #expect(result.firstBadSeq == event, "\(form): \(result)")
        #expect(result.firstBadCheckpoint == checkpoint, "\(form): \(result)")
        #expect(result.problem?.isEmpty == false)
    }

    @Test func aLogWithCheckpointsNeedsItsKey() throws {
        let (_, path, _) = try signedLog()
        try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent + "/audit-signing.pub")
        let result = try AuditLog.verify(fileAt: path)
        #expect(!result.ok)
        #expect(result.problem?.contains("no public key") == true)
        let otherKey = try AuditSigner.loadOrCreate(in: try freshDirectory("warden-other")).publicKey
        #expect(try AuditLog.verify(fileAt: path, publicKey: otherKey).firstBadCheckpoint == 1)
    }

    @Test func everyEventProvesAndAModifiedOneDoesNot() throws {
        let (log, path, key) = try signedLog()
        for seq in Int64(1)...10 {
            let proof = try log.proof(seq: seq)
            #expect(try AuditProof.verify(proof, publicKey: key).contains("event \(seq)"))
            // The same proof read from a copy of the file.
            #expect(try AuditLog.proof(fileAt: path, seq: seq) == proof)
        }
        let proof = try log.proof(seq: 5)
        guard case .object(var object) = proof, case .object(var event) = object["event"] else { Issue.record("not an object"); return }
        event["payload"] = ["n": 500, "tool": "transfer_file"]
        object["event"] = .object(event)
        let error = #expect(throws: AuditError.self) { try AuditProof.verify(.object(object), publicKey: key) }
        #expect(error?.message.contains("not in the tree") == true)
        let forged = try AuditSigner.loadOrCreate(in: try freshDirectory("warden-forged"))
        #expect(throws: AuditError.self) { try AuditProof.verify(proof, publicKey: forged.publicKey) }
    }

    @Test func filesThatAreNotAWardenLogSaySo() throws {
        let dir = NSTemporaryDirectory() + "warden-notlog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "just text\n".write(toFile: dir + "/text.db", atomically: true, encoding: .utf8)
        let notSQLite = #expect(throws: AuditError.self) { try AuditLog.verify(fileAt: dir + "/text.db") }
        #expect(notSQLite?.code == .notAWardenLog)
        #expect(notSQLite?.message.contains("text.db is not a Warden audit database") == true)

        let other = try DatabaseQueue(path: dir + "/other.db")
        try other.write { db in try db.execute(sql: "CREATE TABLE notes (text TEXT)") }
        let otherError = #expect(throws: AuditError.self) { try AuditLog.verify(fileAt: dir + "/other.db") }
        #expect(otherError?.code == .notAWardenLog)

        // A database cut short (a partial copy).
        let (log, path, _) = try signedLog(events: 400)
        log.checkpoint()
        let bytes = try #require(FileManager.default.contents(atPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.db"))
        let cut = #expect(throws: AuditError.self) { try AuditLog.verify(fileAt: dir + "/cut.db") }
        #expect(cut?.code == .notAWardenLog)
        #expect(cut?.message.contains("truncated or damaged") == true, "\(cut?.message ?? "")")
        #expect(throws: AuditError.self) { try AuditLog.verify(fileAt: dir + "/missing.db") }
    }

    @Test func oneRunVerifiesAndLocatesItsTampering() throws {
        let (log, path, _) = try signedLog()
        #expect(try log.verify(run: "run-b").ok)
        try tamperSigned(path, "UPDATE events SET payload = replace(payload, '\"n\":8', '\"n\":80') WHERE seq = 8")
        let result = try AuditLog.verify(fileAt: path, run: "run-b")
        #expect(!result.ok)
        #expect(result.firstBadSeq == 8)
        #expect(try AuditLog.verify(fileAt: path, run: "run-a").ok)
    }
}

@Suite struct GroupCommitTests {
    /// Many threads appending at once: every append returns its own durable event, the chain
    /// and the checkpoints verify, and nothing is lost or duplicated.
    @Test func concurrentAppendsAllLandInOrder() throws {
        let (log, path, _) = try signedLog(events: 1)
        let threads = 16, perThread = 200
        let group = DispatchGroup()
        let returned = Mutex<[Int64]>([])
        for thread in 0..<threads {
            group.enter()
            Thread {
                for index in 0..<perThread {
                    if let event = try? log.appendNow(kind: "load", payload: ["i": .int(Int64(index))], run: "load", agent: "t\(thread)", durability: .durable) {
                        returned.withLock { $0.append(event.seq) }
                    }
                }
                group.leave()
            }.start()
        }
        group.wait()
        let seqs = returned.withLock { $0 }.sorted()
        #expect(seqs.count == threads * perThread)
        #expect(Set(seqs).count == seqs.count)
        try log.checkpointNow()
        let result = try AuditLog.verify(fileAt: path)
        #expect(result.ok, "\(result)")
        #expect(result.events == Int64(threads * perThread + 1))
        #expect(try log.events(matching: AuditFilter(run: "load"), limit: 100_000).count == threads * perThread)
    }
}

@Suite struct LinkedAppendTests {
    /// A call and its decision land next to each other, whatever else is being appended, and the
    /// decision names the call's seq; the chain verifies.
    @Test func aPairLandsTogetherAndLinksItsFirstEvent() throws {
        let (log, path, _) = try signedLog(events: 1)
        let group = DispatchGroup()
        let pairs = Mutex<[(AuditEvent, AuditEvent)]>([])
        for thread in 0..<8 {
            group.enter()
            Thread {
                for index in 0..<100 {
                    if thread % 2 == 0 {
                        _ = try? log.appendNow(kind: "noise", payload: ["i": .int(Int64(index))], run: "noise", durability: .durable)
                    } else if let pair = try? log.appendNow(ToolCallEvent(tool: "t", arguments: ["i": .int(Int64(index))]),
                                                            then: PolicyDecision(tool: "t", decision: .allow), linking: "call",
                                                            run: "calls", agent: "t\(thread)") {
                        pairs.withLock { $0.append(pair) }
                    }
                }
                group.leave()
            }.start()
        }
        group.wait()
        let written = pairs.withLock { $0 }
        #expect(written.count == 400)
        for (call, decision) in written {
            #expect(decision.seq == call.seq + 1)
            #expect(decision.payload["call"] == .int(call.seq))
            #expect(decision.payload["decision"] == "allow")
        }
        // As stored, not only as returned.
        let stored = try log.events(matching: AuditFilter(run: "calls"), limit: 10_000)
        let calls = Dictionary(uniqueKeysWithValues: stored.filter { $0.kind == "tool.call" }.map { ($0.seq, $0) })
        for decision in stored where decision.kind == "policy.decision" {
            #expect(calls[decision.seq - 1] != nil && decision.payload["call"] == .int(decision.seq - 1))
        }
        try log.checkpointNow()
        #expect(try AuditLog.verify(fileAt: path).ok)
    }
}

@Suite struct ParallelVerificationTests {
    func verify(_ path: String) throws -> AuditVerification {
        try AuditLog.verify(fileAt: path, publicKey: nil, run: nil, fromCheckpoint: nil, parallelFrom: 1)
    }

    /// Checked in two halves on two cores, the log gives the same answers as in one pass:
    /// intact, or the same first bad event in either half.
    @Test(arguments: [Int64(3), 9, 14])
    func halvesFindWhatOnePassFinds(_ seq: Int64) throws {
        let (_, path, _) = try signedLog(events: 16)
        let whole = try verify(path)
        #expect(whole.ok, "\(whole)")
        #expect(whole.events == 16)
        #expect(whole.checkpoints == 4)
        try tamperSigned(path, "UPDATE events SET payload = replace(payload, '\"n\":\(seq)', '\"n\":\(seq * 10)') WHERE seq = \(seq)")
        let parallel = try verify(path)
        let single = try AuditLog.verify(fileAt: path)
        #expect(!parallel.ok)
        #expect(parallel.firstBadSeq == seq, "\(parallel)")
        #expect(parallel.firstBadSeq == single.firstBadSeq)
    }
}
