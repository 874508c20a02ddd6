import Synchronization
import WardenCore
import WardenScenario

/// Fires a run's injections that wait on time (`after_seconds`). Injections that wait on acts
/// fire from the `TriggerBook`, in log order, where the act is appended; start messages and
/// follow-up questions are handed to the sessions directly.
final class TimedInjections: Sendable {
    private let tasks: Mutex<[Task<Void, Never>]>

    init(run: Run, injections: [WardenScenario.Injection]) {
        var tasks: [Task<Void, Never>] = []
        for injection in injections {
            guard case .afterSeconds(let seconds) = injection.trigger else { continue }
            tasks.append(Task { [weak run] in
                guard (try? await CancellableSleep.sleep(for: .milliseconds(Int(seconds * 1000)))) != nil else { return }
                await run?.fire(injection, cause: ["after_seconds": .double(seconds)])
            })
        }
        self.tasks = Mutex(tasks)
    }

    /// Injections that have not fired never will. Safe to call twice.
    func stop() {
        for task in tasks.withLock({ tasks in defer { tasks = [] }; return tasks }) { task.cancel() }
    }
}
