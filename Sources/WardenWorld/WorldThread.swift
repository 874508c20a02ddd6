import CWardenWorld
import Dispatch
import Foundation
import Synchronization

/// A thread that does one world's file work, one job at a time, and is confined for its whole
/// life: it takes the agent's rights (`AgentRights.take`) and restricts itself with Landlock to
/// the world's tree (read-write for the worker, read-only for the observer) before its first
/// job. Whatever a job's code does, the kernel lets this thread touch nothing outside the world,
/// and nothing inside that the agent could not (the observer may read what the agent hid from
/// itself, where the process holds CAP_DAC_READ_SEARCH). Callers await their job; no caller's
/// thread is blocked.
final class WorldThread: Sendable {
    enum Role: Sendable {
        /// The agent's rights, read-write beneath the root: tools, building, deletions.
        case worker
        /// Reading only, beneath the root: snapshots, the kept copy, detectors' reads.
        case observer
    }

    typealias Job = @Sendable (_ failure: WorldError?) -> Void

    /// What the thread and its callers share.
    final class State: Sendable {
        let jobs = Mutex<(queue: [Job], stopped: Bool)>(([], false))
        let wake = DispatchSemaphore(value: 0)
        /// What the thread could take, once it has started: its confinement, or why it runs no job.
        let setUp = Mutex<Result<String, WorldError>?>(nil)

        /// The next job; nil once stopped and drained.
        func next() -> Job? {
            while true {
                wake.wait()
                let (job, done) = jobs.withLock { state -> (Job?, Bool) in
                    if !state.queue.isEmpty { return (state.queue.removeFirst(), false) }
                    return (nil, state.stopped)
                }
                if let job { return job }
                if done { return nil }
            }
        }
    }

    private let state = State()

    init(role: Role, root: Descriptor, rights: AgentRights, name: String) {
        let state = state
        let thread = Thread {
            let outcome = Result { () throws(WorldError) -> String in try Self.confine(role: role, root: root, rights: rights) }
            state.setUp.withLock { $0 = outcome }
            let failure: WorldError? = if case .failure(let error) = outcome { error } else { nil }
            while let job = state.next() { job(failure) }
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Ends the thread once the jobs queued before are done.
    func stop() {
        state.jobs.withLock { $0.stopped = true }
        state.wake.signal()
    }

    /// Runs `body` on the thread and returns what it returned.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(WorldError) -> T) async throws(WorldError) -> T {
        let state = state
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, WorldError>, Never>) in
            let accepted = state.jobs.withLock { jobs -> Bool in
                guard !jobs.stopped else { return false }
                jobs.queue.append { failure in
                    if let failure { continuation.resume(returning: .failure(failure)) } else {
                        continuation.resume(returning: Result { () throws(WorldError) -> T in try body() })
                    }
                }
                return true
            }
            if accepted { state.wake.signal() } else {
                continuation.resume(returning: .failure(WorldError(.rights, "the world's thread has stopped")))
            }
        }
        return try result.get()
    }

    /// The thread's confinement as it was applied (once it has started).
    var confinement: String? {
        switch state.setUp.withLock({ $0 }) {
        case .success(let text): return text
        case .failure(let error): return "none: \(error)"
        case nil: return nil
        }
    }

    private static func confine(role: Role, root: Descriptor, rights: AgentRights) throws(WorldError) -> String {
        let reads = try rights.take(readEverything: role == .observer)
        let abi = warden_thread_confine_beneath(root.fd, role == .worker ? 1 : 0)
        guard abi >= 0 else { throw WorldError(.rights, "cannot confine the world's thread with Landlock", errno: errno) }
        var text = "openat2 beneath the world root" + (abi > 0 ? ", Landlock ABI \(abi) beneath it" : ", no Landlock on this kernel")
        text += role == .worker ? ", the agent's rights (\(rights))" : ", read-only as \(rights)" + (reads ? " with CAP_DAC_READ_SEARCH" : "")
        return text
    }
}
