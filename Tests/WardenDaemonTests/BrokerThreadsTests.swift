import Dispatch
import Foundation
import NIOCore
import Synchronization
import Testing
@testable import WardenDaemon

/// Broker calls block on audit commits; they must do it on the broker's own threads, side by
/// side, not on Swift's cooperative pool (one thread per core), where two blocked calls stall
/// the daemon.
@Suite struct BrokerThreadsTests {
    /// One call on each loop (connections are spread over the loops), each blocking until all
    /// have arrived: possible only if they hold that many threads at once — more than the
    /// cooperative pool has (on it they would wait out the deadlock guard).
    @Test func moreBlockedCallsThanCoresRunAtOnce() async {
        final class Barrier: Sendable {
            let arrived = Mutex(0)
            let open = DispatchSemaphore(value: 0)
            func arriveAndWait(parties: Int) -> Bool {
                let last = arrived.withLock { count -> Bool in
                    count += 1
                    return count == parties
                }
                if last { for _ in 0..<parties { open.signal() } }
                return open.wait(timeout: .now() + 20) == .success
            }
        }
        let barrier = Barrier()
        let met = await withTaskGroup(of: Bool.self) { group in
            let loops = Array(BrokerThreads.shared.group.makeIterator())
            #expect(loops.count > ProcessInfo.processInfo.activeProcessorCount)
            for loop in loops {
                group.addTask { await BrokerThreads.shared.run(on: loop) { barrier.arriveAndWait(parties: loops.count) } }
            }
            var all = true
            for await ok in group { all = all && ok }
            return all
        }
        #expect(met)
    }

    /// A session's work runs on the loop of its connection: the thread that reads its requests
    /// and writes its answers.
    @Test func workPreferringALoopRunsOnThatLoop() async {
        for loop in BrokerThreads.shared.group.makeIterator() {
            #expect(await BrokerThreads.shared.run(on: loop) { loop.inEventLoop })
        }
    }

    /// An actor's work (a broker session is one) follows the caller's preference onto them.
    @Test func actorWorkRunsOnTheBrokerThreads() async {
        actor Probe {
            func onBrokerThread() -> Bool { BrokerThreads.shared.isCurrent }
        }
        let probe = Probe()
        #expect(await probe.onBrokerThread() == false)
        #expect(await BrokerThreads.shared.run { await probe.onBrokerThread() })
        #expect(await BrokerThreads.shared.run { () async -> Bool in
            _ = await probe.onBrokerThread()
            await Task.yield()
            return await probe.onBrokerThread()
        })
    }
}
