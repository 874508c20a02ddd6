import Testing
@testable import WardenCore

@Suite struct CancellableSleepTests {
    @Test func sleepsForItsDuration() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await CancellableSleep.sleep(for: .milliseconds(30))
        #expect(clock.now - start >= .milliseconds(30))
    }

    @Test func cancellationEndsTheSleepWithCancellationError() async {
        let sleeper = Task { try await CancellableSleep.sleep(for: .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    @Test func aTaskCancelledBeforeItSleepsDoesNotSleep() async {
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await CancellableSleep.sleep(for: .seconds(3600))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    /// `Task.sleep` keeps a cancelled sleep's timer (~420 bytes) until its deadline: 100,000
    /// cancelled hour-long sleeps hold ~40 MB for an hour. Here a cancelled sleep's timer is
    /// released at once (other tests' runs may hold a few sleeps of their own meanwhile).
    @Test func cancelledSleepsReleaseTheirTimers() async {
        for _ in 0..<100 {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<1000 { group.addTask { try? await CancellableSleep.sleep(for: .seconds(3600)) } }
                group.cancelAll()
            }
        }
        #expect(CancellableSleep.held < 1000, "\(CancellableSleep.held) cancelled sleeps still hold their timers")
    }
}
