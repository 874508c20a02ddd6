import CWardenLinux
import Foundation
import Logging
import WardenAudit
import WardenBroker
import WardenVocabulary
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenSandboxHost
import WardenScenario
import WardenWorld

/// The runs of this daemon: prepares each request into a plan, gives every plan its own `Run`
/// actor, and finds the run an operator action names. It holds what runs share (the launcher
/// supply, the policy and scenario caches) and nothing of any one run: a run's state lives in its
/// actor, so runs never wait on each other.
actor RunRegistry {
    /// What every run shares: the configuration, the log, the launcher supply (launchers
    /// started ahead of need), and whether worlds get a tmpfs of their own.
    let context: RunContext
    /// Told a one-line summary whenever a run starts or ends (wardend's systemd STATUS=).
    let statusChanged: @Sendable (String) -> Void

    private var runs: [String: Run] = [:]
    private(set) var stopping = false
    private(set) var completedRuns = 0
    private var recent: [RunSummary] = []

    /// The caches `prepare` keeps (RunPreparation.swift).
    var policyCache: PolicyCache?
    var scenarioCache: [String: Scenario] = [:]
    var fingerprintCache: [String: Fingerprints] = [:]

    init(configuration: DaemonConfiguration, audit: AuditLog, logger: Logger, worldsOnTmpfs: Bool,
         statusChanged: @escaping @Sendable (String) -> Void = { _ in }) {
        self.statusChanged = statusChanged
        let launchers = LauncherSupply(launcher: configuration.launcherPath, capacity: configuration.standbyLaunchers,
                                       template: Self.standbyTemplate(configuration), instance: configuration.instance,
                                       log: configuration.stateDirectory + "/launchers.log")
        launchers.replenish()
        context = RunContext(configuration: configuration, audit: audit, logger: logger, launchers: launchers, worldsOnTmpfs: worldsOnTmpfs)
    }

    /// Runs in progress: started, and not yet writing their `run.end`.
    var activeRuns: [String] { runs.filter { !$0.value.isClosed }.keys.sorted() }

    /// Agents started by the runs in progress.
    var activeAgents: Int { runs.values.reduce(0) { $0 + $1.startedAgents } }

    /// Runs finished since the daemon started, newest last (at most ten).
    var recentRuns: [RunSummary] { recent }

    /// Runs a prepared plan to the end and returns its summary. Never throws: a failure ends the
    /// run as `aborted` with the reason in the audit log.
    func execute(_ plan: RunPlan, caller: Caller) async -> RunSummary {
        await start(plan, caller: caller).summary.value
    }

    /// Registers the plan's run and starts it; returns the run (in progress until `summary`
    /// is done) and its summary to come.
    func start(_ plan: RunPlan, caller: Caller) -> (run: Run, summary: Task<RunSummary, Never>) {
        let run = Run(plan: plan, caller: caller, registry: self)
        runs[plan.runID] = run
        announce()
        return (run, Task { self.ended(run, await run.execute()) })
    }

    private func ended(_ run: Run, _ summary: RunSummary) -> RunSummary {
        runs[run.id] = nil
        if summary.state != RunEnd.State.aborted.rawValue { completedRuns += 1 }
        return finished(summary)
    }

    /// A running agent's command channel and its run's world recorder, for an Inspect sandbox
    /// that acts as that agent (InspectSandboxes); nil unless its sandbox is running.
    func inspectAgent(run id: String, agent: String) async -> (shell: ShellChannel, recorder: WorldRecorder?)? {
        guard let run = runs[id], let shell = await run.agent(named: agent)?.shell else { return nil }
        return (shell, await run.recorder)
    }

    /// The run an operator action names, if it is in progress.
    func run(_ id: String) throws -> Run {
        guard let run = runs[id], !run.isClosed else { throw DaemonError(.notFound, "no run '\(id)' is in progress (see `wardenctl ps`)") }
        return run
    }

    /// Runs in progress, with each agent's state.
    func processTable() async -> JSONValue {
        var table: [JSONValue] = []
        for (_, run) in runs.sorted(by: { $0.key < $1.key }) where !run.isClosed { table.append(await run.tableRow()) }
        return .array(table)
    }

    /// Stops every run: kills all sandboxes. Runs in progress end as `aborted`.
    func stopAll() async {
        stopping = true
        context.launchers.stop()
        for run in runs.values { await run.abandon() }
    }

    func announce() {
        statusChanged("\(runs.count) runs active (\(activeAgents) agents), \(completedRuns) completed")
    }

    /// Keeps the last few finished runs for `ps`.
    private func finished(_ summary: RunSummary) -> RunSummary {
        defer { announce() }
        // Sandboxes of a crashed predecessor may still have been dying at recovery.
        _ = CgroupCleanup.removeOrphans(instance: context.configuration.instance)
        recent.append(summary)
        if recent.count > 10 { recent.removeFirst(recent.count - 10) }
        releaseFreeMemorySoon()
        return summary
    }

    private var memoryReleaseScheduled = false

    /// What a run's agents made the daemon buffer (a flood of large messages, a big world) is
    /// freed as the run ends, but malloc keeps the pages in its per-thread arenas; they go back
    /// to the kernel a second after a run ends, so the daemon's resident size follows what it
    /// uses. Not at once: the run's connections and sandboxes are let go after it is recorded as
    /// ended. Runs ending within that second share one release.
    private func releaseFreeMemorySoon() {
        guard !memoryReleaseScheduled else { return }
        memoryReleaseScheduled = true
        Task {
            try? await Task.sleep(for: .seconds(1))
            self.memoryReleaseScheduled = false
            _ = warden_release_free_memory()
        }
    }

    /// The default sandbox policy's part of a spec, for standby launchers; nil if it does not load
    /// (runs then start their launchers on demand, and report the policy error themselves).
    static func standbyTemplate(_ configuration: DaemonConfiguration) -> SandboxSpec? {
        guard let (policy, _) = try? SandboxPolicy.loadDefault(sandboxPolicy: configuration.policiesDirectory + "/sandbox/default.yaml")
        else { return nil }
        var template = SandboxSpec.make(command: ["/bin/true"], policy: policy, seccomp: .init(filters: []), extraBinds: [], environment: [:],
                                        keepBrokerFD: true)
        template.instance = configuration.instance
        return template
    }
}
