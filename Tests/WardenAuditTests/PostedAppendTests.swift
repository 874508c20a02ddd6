import Foundation
import Synchronization
import Testing
import WardenCore
@testable import WardenAudit

@Suite struct PostedAppendTests {
    /// Posted events are written in the order they were posted, ahead of the waiting append
    /// that follows them (its commit carries them), and the chain verifies.
    @Test func postedEventsLandBeforeTheNextWaitingAppend() async throws {
        let (log, path, _) = try signedLog(events: 1)
        for index in 0..<50 { try log.appendNow(kind: "tool.result", payload: ["i": .int(Int64(index))], run: "posted", agent: "a", durability: .queued) }
        let call = try await log.append(kind: "tool.call", payload: [:], run: "posted", agent: "a", durability: .durable)
        let stored = try log.events(run: "posted")
        #expect(stored.map(\.kind) == Array(repeating: "tool.result", count: 50) + ["tool.call"])
        #expect(stored.prefix(50).map { $0.payload["i"]?.intValue } == (0..<50).map { Int64($0) })
        #expect(stored.last?.seq == call?.seq)
        try log.checkpointNow()
        #expect(try AuditLog.verify(fileAt: path).ok)
    }

    /// A posted event with nothing after it is still written, a moment later, on its own.
    @Test func aLonePostedEventIsWrittenByItself() throws {
        let (log, _, _) = try signedLog(events: 1)
        try log.appendNow(kind: "run.note", payload: ["text": "nothing follows"], run: "lone", durability: .queued)
        var stored: [AuditEvent] = []
        for _ in 0..<500 where stored.isEmpty {
            usleep(10_000)
            stored = try log.events(run: "lone")
        }
        #expect(stored.map(\.kind) == ["run.note"])
    }

    /// `flush` returns only once what was posted before it is in the database.
    @Test func flushWaitsForPostedEvents() async throws {
        let (log, _, _) = try signedLog(events: 1)
        for index in 0..<200 { try log.appendNow(kind: "k", payload: ["i": .int(Int64(index))], run: "flushed", durability: .queued) }
        try await log.flush(run: "flushed")
        #expect(try log.events(run: "flushed").count == 200)
    }

    /// A posted event that cannot be written loses its run: the next waiting append of that run
    /// and `flush(run:)` fail with the reason, later posts are refused, other runs go on, and
    /// nothing of the run after the gap is stored.
    @Test func aLostPostedEventStopsItsRun() async throws {
        let log = try await logRefusingOneKind()
        try log.appendNow(kind: "refused", payload: [:], run: "r", durability: .queued)
        await #expect(throws: AuditError.self) { try await log.flush(run: "r") }
        await #expect(throws: AuditError.self) { try await log.append(kind: "after", payload: [:], run: "r", durability: .durable) }
        #expect(throws: AuditError.self) { try log.appendNow(kind: "after", payload: [:], run: "r", durability: .queued) }
        try await log.append(kind: "fine", payload: [:], run: "other", durability: .durable)
        try await log.flush(run: "other")
        #expect(try log.events(run: "r").map(\.kind) == ["before"])
        #expect(try log.verify().ok)
    }
}

@Suite struct GroupCommitQueueTests {
    /// Entries are "run:name"; the writer refuses names starting with "bad" and records the rest.
    final class Sink: Sendable {
        let written = Mutex<[String]>([])
        func write(_ entries: [String]) -> Result<[Int], AuditError> {
            if entries.contains(where: { $0.split(separator: ":")[1].hasPrefix("bad") }) {
                return .failure(AuditError(.writeFailed, "refused"))
            }
            return .success(written.withLock { written in
                written += entries
                return entries.indices.map { written.count - entries.count + $0 }
            })
        }
    }

    static func committer(_ sink: Sink, maxBatch: Int) -> GroupCommit<String, Int> {
        // Posted entries wait for a flush or a waiting submission (the delay never comes first).
        GroupCommit(maxBatch: maxBatch, postDelay: .seconds(600), key: { String($0.split(separator: ":")[0]) }) { sink.write($0) }
    }

    /// Entries queued behind a lost posted entry of the same key fail with it, even when they
    /// are not in its batch; other keys' entries are written.
    @Test func whatIsQueuedBehindALostEntryFailsWithIt() async throws {
        let sink = Sink()
        let commit = Self.committer(sink, maxBatch: 1)
        try commit.post(all: ["r:bad"])
        try commit.post(all: ["r:behind", "s:other"])
        await commit.flush()
        #expect(sink.written.withLock { $0 } == ["s:other"])
        #expect(commit.lostFailure("r")?.message == "refused")
        #expect(commit.lostFailure("s") == nil)
        #expect(throws: AuditError.self) { try commit.post(all: ["r:later"]) }
        await #expect(throws: AuditError.self) { try await commit.submitAsync(all: ["r:later"]) }
        #expect(try await commit.submitAsync(all: ["s:later"]) == [1])
    }

    /// A blocking submitter does not write its batch itself: the log's writer thread does, and
    /// the submitter returns once it is written. A submission queued while a batch is being
    /// written waits for the next, written by the same thread.
    @Test func blockingSubmissionsAreWrittenByTheWriterThread() async throws {
        final class GatedSink: Sendable {
            /// One gate per batch, opened by the test; which thread wrote each batch, and what.
            let gates = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
            let batches = Mutex<[(entries: [String], thread: UInt, name: String)]>([])
            let started = DispatchSemaphore(value: 0)
            func write(_ entries: [String]) -> Result<[Int], AuditError> {
                let name = currentThreadName()
                let index = batches.withLock { batches in
                    batches.append((entries, UInt(pthread_self()), name))
                    return batches.count - 1
                }
                started.signal()
                _ = gates[min(index, 1)].wait(timeout: .now() + 20)
                return .success(entries.indices.map { $0 })
            }
        }
        let sink = GatedSink()
        let commit = GroupCommit<String, Int>(postDelay: .seconds(600), key: { _ in "" }) { sink.write($0) }
        let firstReturned = DispatchSemaphore(value: 0)
        let secondReturned = DispatchSemaphore(value: 0)
        let submitters = Mutex<[UInt]>([])
        Thread {
            submitters.withLock { $0.append(UInt(pthread_self())) }
            _ = try? commit.submit("first")
            firstReturned.signal()
        }.start()
        #expect(sink.started.wait(timeout: .now() + 20) == .success)  // the first entry is being written
        Thread {
            submitters.withLock { $0.append(UInt(pthread_self())) }
            _ = try? commit.submit("second")
            secondReturned.signal()
        }.start()
        // The second submission is queued behind the batch being written.
        while commit.pending == 0 { usleep(1000) }
        #expect(firstReturned.wait(timeout: .now()) == .timedOut, "the first submitter returned before its entry was written")
        sink.gates[0].signal()
        #expect(firstReturned.wait(timeout: .now() + 20) == .success)
        #expect(sink.started.wait(timeout: .now() + 20) == .success)  // the second batch is being written
        #expect(secondReturned.wait(timeout: .now()) == .timedOut)
        sink.gates[1].signal()
        #expect(secondReturned.wait(timeout: .now() + 20) == .success)
        let batches = sink.batches.withLock { $0 }
        #expect(batches.map(\.entries) == [["first"], ["second"]])
        #expect(batches.map(\.name) == ["audit-writer", "audit-writer"])
        #expect(batches[0].thread == batches[1].thread)
        #expect(Set(batches.map(\.thread)).isDisjoint(with: submitters.withLock { $0 }))
    }

    /// A waiting submission's entries are never split across transactions, whatever the batch size.
    @Test func aSubmissionIsOneTransaction() async throws {
        let sink = Sink()
        let commit = Self.committer(sink, maxBatch: 2)
        await #expect(throws: AuditError.self) { try await commit.submitAsync(all: ["b:1", "b:2", "b:bad"]) }
        #expect(sink.written.withLock { $0 }.isEmpty)
        #expect(try await commit.submitAsync(all: ["b:3", "b:4", "b:5"]) == [0, 1, 2])
    }

    /// A failed batch of waiting entries only (nothing posted) loses no key.
    @Test func aFailedWaitingBatchLosesNothing() async throws {
        let sink = Sink()
        let commit = Self.committer(sink, maxBatch: 10)
        await #expect(throws: AuditError.self) { try await commit.submitAsync(all: ["r:bad"]) }
        #expect(commit.lostFailure("r") == nil)
        #expect(try await commit.submitAsync(all: ["r:fine"]) == [0])
    }
}
