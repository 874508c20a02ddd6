import Foundation
import Testing
import WardenCore
import WardenVocabulary
@testable import WardenAudit

/// Readers that follow the log are woken by its observer, not by polling: only for events their
/// filter may match, with wakes that coalesce, and with the end of the run they follow noted.
@Suite struct LogSubscriptionTests {
    func freshLog() throws -> AuditLog {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-sub-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try AuditLog(path: directory + "/audit.db")
    }

    @Test func wakesOnlyForTheRunItFollows() async throws {
        let log = try freshLog()
        let subscription = log.subscribe(AuditFilter(run: "mine"))
        try await log.append(kind: "tool.call", payload: [:], run: "other", durability: .durable)
        #expect(await subscription.wait(timeout: .milliseconds(200)) == false, "woken by another run's event")
        try await log.append(kind: "tool.call", payload: [:], run: "mine", durability: .durable)
        #expect(await subscription.wait(timeout: .seconds(5)))
        #expect(subscription.runEnd == nil)
        subscription.cancel()
        #expect(log.observerCount == 0)
    }

    @Test func wakesCoalesceAndNothingAppendedAfterSubscribingIsMissed() async throws {
        let log = try freshLog()
        let subscription = log.subscribe(AuditFilter(run: "r"))
        // Events appended before anyone waits are one wake, waiting at once.
        for index in 0..<20 { try await log.append(kind: "k", payload: ["i": .int(Int64(index))], run: "r", durability: .durable) }
        #expect(await subscription.wait(timeout: .seconds(5)))
        #expect(await subscription.wait(timeout: .milliseconds(200)) == false, "one wake per batch of events, not one per event")
        #expect(try log.events(run: "r").count == 20)
    }

    /// The end of the followed run wakes the reader even when its filter asks for other kinds
    /// (`audit tail -f RUN --kind verdict` ends with the run).
    @Test func theRunsEndIsNotedWhateverTheFilterAsksFor() async throws {
        let log = try freshLog()
        let subscription = log.subscribe(AuditFilter(kind: .verdict, run: "r"))
        try await log.append(kind: "tool.call", payload: [:], run: "r", durability: .durable)
        #expect(await subscription.wait(timeout: .milliseconds(200)) == false, "woken by a kind the filter excludes")
        let end = try #require(try await log.append(RunEnd(state: .completed), run: "r", durability: .durable))
        #expect(await subscription.wait(timeout: .seconds(5)))
        #expect(subscription.runEnd == end.seq)
    }

    /// A kind ending in "." is a family, as `audit tail --kind model.` reads it.
    @Test func aKindFamilyWakesForEachOfItsKinds() async throws {
        let log = try freshLog()
        let subscription = log.subscribe(AuditFilter(run: "r", kind: "operator."))
        try await log.append(kind: "operatorx", payload: [:], run: "r", durability: .durable)
        #expect(await subscription.wait(timeout: .milliseconds(200)) == false)
        try await log.append(kind: "operator.inject", payload: [:], run: "r", durability: .durable)
        #expect(await subscription.wait(timeout: .seconds(5)))
    }

    /// A waiter is released when the subscription is cancelled or woken by its owner.
    @Test func aWaiterIsReleasedByWakeAndCancel() async throws {
        let log = try freshLog()
        let subscription = log.subscribe(AuditFilter(run: "r"))
        async let woken = subscription.wait(timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        subscription.wake()
        #expect(await woken)
        async let cancelled = subscription.wait(timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        subscription.cancel()
        #expect(await cancelled)
        #expect(log.observerCount == 0)
    }
}
