import Foundation
import Testing
import WardenCore
import WardenFuzzing
import WardenProtocol
@testable import WardenBroker

/// Hostile agent messages, generated and mutated: malformed JSON, wrong types, huge strings
/// and arrays, deep nesting, invalid UTF-8, unknown methods and tools. The broker must answer
/// each (or stay silent for notifications) without crashing, keep every audit record bounded,
/// and still serve a well-formed request afterwards.
@Suite struct BrokerFuzzTests {
    static let seeds: [UInt64] = [1, 2, 3]

    @Test(arguments: seeds)
    func hostileMessagesAreAnsweredAndBounded(_ seed: UInt64) async throws {
        let f = try await Fixture()
        var random = SplitMix64(seed: seed)
        let clock = ContinuousClock.now
        var sent = 0
        // Bounded in count and time (1500 messages or 10 s).
        while sent < 1500, ContinuousClock.now - clock < .seconds(10) {
            let base = Array(HostileMessages.corpus[Int(random.next() % UInt64(HostileMessages.corpus.count))].utf8)
            let input = HostileMessages.mutate(base, &random)
            let reply = await f.session.handle(line: input)
            if let reply {
                #expect(reply["jsonrpc"] == "2.0", "seed \(seed) input #\(sent)")
                #expect((reply["result"] == nil) != (reply["error"] == nil), "seed \(seed) input #\(sent): \(reply.canonicalString.prefix(200))")
            }
            sent += 1
        }
        // Still serving, and every record it kept is bounded.
        let pong = try #require(await f.request("ping", id: 777))
        #expect(pong["id"] == 777)
        #expect(pong["result"] != nil)
        let events = try await f.events()
        #expect(!events.isEmpty)
        let largest = events.map { $0.payload.canonicalString.utf8.count }.max() ?? 0
        #expect(largest < 70_000, "an audit record of \(largest) bytes")
        #expect(try f.audit.verify().ok)
    }
}
