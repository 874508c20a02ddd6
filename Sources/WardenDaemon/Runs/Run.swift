import Foundation
import Glibc
import Logging
import Synchronization
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenProtocol
import WardenScenario
import WardenVerdicts
import WardenWorld

/// One run, from its `run.start` to its `run.end`, as an actor whose phases are its methods and
/// whose state is the run's alone:
///
/// 1. `materialize` builds the world and records its start (RunWorldPhase.swift);
/// 2. `startAgents` gives each agent a broker session and a sandbox (RunAgentsPhase.swift);
/// 3. `waitForAgents` delivers injections and waits for the agents or the time limit;
/// 4. `recordEnd` closes the world's history, `judge` derives verdicts from the log alone, and
///    `record` writes them and the run's end (RunJudgePhase.swift).
///
/// Operator actions and the agents' own requests (messages, shutdowns, acts that trigger
/// injections) are methods too (RunActions.swift). Every phase that fails ends the run as
/// `aborted`, with the reason in the log; the world is kept on disk whatever happens.
actor Run {
    nonisolated let id: String
    /// What the request asked for, validated: the scenario's cell, models, policies.
    let plan: RunPlan
    /// Who asked (recorded in `run.start`).
    let caller: Caller
    /// The run's places in the state directory.
    let paths: RunPaths
    /// When the run began, for `ps`.
    let started = AuditClock.now()

    /// An agent whose sandbox has started.
    struct Agent: Sendable {
        var definition: Scenario.Agent
        var session: BrokerSession
        var process: AgentProcess
        var transport: Task<Void, Never>
        var supervision: SupervisionDone
        /// Its command channel (agents with the `bash` tool): its tool calls, and Inspect's
        /// operations on an agent Inspect drives, run through it.
        var shell: ShellChannel?
    }

    /// What every run shares, from the registry.
    let context: RunContext

    /// Where the world is, and what is left to do with it.
    var place = RunWorld()
    var worldLimit: JSONValue
    /// Keeps the world's history in the log; the world as the run began is its `start`.
    var recorder: WorldRecorder?
    /// The scenario's triggers on acts, asked in log order.
    var triggers: TriggerBook?
    var labels: WorldLabels?
    var startSnapshot: WorldSnapshot?
    /// Agents in the scenario's order, as their sandboxes start.
    var agents: [Agent] = []
    /// Agents whose sandbox the daemon shut down (by injection, `execute_shutdown` or operator).
    var shutDown: Set<String> = []
    /// Set when an operator stopped the run.
    var stopReason: String?
    /// Agents wardend stopped at a limit (`on_limit: stop`), with their `ended` reason.
    var limitStops: [String: String] = [:]
    /// Set when the daemon is stopping: the run ends as `aborted`.
    var abandoned = false
    var summaries: [RunSummary.AgentSummary] = []
    /// What runs beside the agents until the run ends.
    var limitWatches: [Task<Void, Never>] = []
    var timed: TimedInjections?
    var filesWatch: RecordedFilesWatch?

    /// Who waits for an agent's sandbox to start (`startedAgent(named:)`); whether every agent
    /// that will start has (or the start failed), and whether the run is over.
    private var agentWaiters: [String: [CheckedContinuation<Agent?, Never>]] = [:]
    private var startsOver = false
    private var over = false

    private let agentCount = Atomic<Int>(0)
    /// How many agents have started (read by `status` without waiting for the run).
    nonisolated var startedAgents: Int { agentCount.load(ordering: .relaxed) }
    private let closedFlag = Atomic<Bool>(false)
    /// Set just before `run.end` is written: from then on the run takes no operator action
    /// and is not shown as in progress.
    nonisolated var isClosed: Bool { closedFlag.load(ordering: .acquiring) }

    /// Marks the run as ending (see `isClosed`).
    func markClosed() { closedFlag.store(true, ordering: .releasing) }

    init(plan: RunPlan, caller: Caller, registry: isolated RunRegistry) {
        id = plan.runID
        self.plan = plan
        self.caller = caller
        context = registry.context
        abandoned = registry.stopping
        paths = RunPaths(stateDirectory: registry.context.configuration.stateDirectory, runID: plan.runID)
        worldLimit = .int(Int64(plan.sandboxPolicy.worldSizeBytes))
    }

    /// Why a phase could not go on: the run ends as `aborted` with this reason.
    struct Abort: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Runs every phase in order and returns the run's summary. Never throws.
    func execute() async -> RunSummary {
        let summary: RunSummary
        do throws(Abort) {
            try await recordStart()
            try checkNotAbandoned()
            try await materialize()
            try checkNotAbandoned()
            try await startAgents()
            try await waitForAgents()
            try await recordEnd()
            summary = await record(try await judge())
        } catch {
            summary = await aborted(error.reason)
        }
        cleanUp()
        over = true
        startsDone()
        // Whatever happened, the final world goes to disk (once) and its tmpfs away.
        if let kept = await keepWorld(), !kept.problems.isEmpty {
            context.logger.warning("world kept in part", metadata: ["run": "\(id)", "problems": "\(kept.problems.prefix(5))"])
        }
        place.release()
        return summary
    }

    /// The run's first event: what it is, who asked, and with which models and limits.
    private func recordStart() async throws(Abort) {
        var commands: [String: [String]] = [:]
        for agent in plan.scenario.agents { if let command = plan.command(for: agent) { commands[agent.id] = command } }
        var start = RunStart(
            scenario: plan.scenario.name, scenarioPath: plan.scenario.file, model: plan.model.name, modelEndpoint: plan.model.endpoint,
            agents: plan.scenario.agents.map(\.id), caller: caller, agentCommand: plan.agentCommand,
            limits: .init(turns: plan.scenario.limits.turns, seconds: plan.scenario.limits.seconds),
            cell: plan.scenario.cell.dictionary, cellName: plan.scenario.cell.description,
            suite: plan.params.suite, trial: plan.params.trial, agentModels: plan.agentModels.mapValues(\.name),
            background: plan.scenario.agents.filter(\.background).map(\.id), scenarioText: plan.params.scenarioText,
            agentCommands: commands.isEmpty ? nil : commands)
        start.judge = plan.judge?.name
        do { try await context.audit.append(start, run: id, durability: .durable) } catch { throw Abort("cannot write the audit log: \(error)") }
        context.logger.info("run started", metadata: ["run": "\(id)", "scenario": "\(plan.scenario.name)", "model": "\(plan.model.name)"])
    }

    /// A daemon that is stopping starts no more of a run: it ends as `aborted`.
    private func checkNotAbandoned() throws(Abort) {
        if abandoned { throw Abort("wardend is shutting down") }
    }

    /// Ends the run as `aborted`: recorded durably, then summarised.
    private func aborted(_ reason: String) async -> RunSummary {
        markClosed()
        await context.audit.append(RunEnd(state: .aborted, reason: reason), run: id, durability: .durable, loggingFailuresTo: context.logger)
        context.logger.warning("run aborted", metadata: ["run": "\(id)", "reason": "\(reason)"])
        return RunSummary(runID: id, scenario: plan.scenario.name, model: plan.model.name, state: "aborted", reason: reason, agents: summaries)
    }

    /// Stops what runs beside the agents, and removes the run's live directory (the transports
    /// unlink their sockets when their agents are gone; unlinked here too, for runs that ended
    /// before their agents did).
    private func cleanUp() {
        for watch in limitWatches { watch.cancel() }
        timed?.stop()
        filesWatch?.stop()
        for agent in plan.scenario.agents { unlink(paths.brokerSocket(agent: agent.id)) }
        rmdir(paths.live)
    }

    /// Counts an agent whose sandbox has started.
    func started(_ agent: Agent) {
        // A stop (or the daemon's) that came while this sandbox started applies to it too.
        if stopReason != nil || abandoned { agent.process.kill() }
        agents.append(agent)
        agentCount.add(1, ordering: .relaxed)
        for waiter in agentWaiters.removeValue(forKey: agent.definition.id) ?? [] { waiter.resume(returning: agent) }
    }

    /// No more agents will start: whoever still waits for one hears nil.
    func startsDone() {
        startsOver = true
        for waiter in agentWaiters.values.joined() { waiter.resume(returning: nil) }
        agentWaiters = [:]
    }

    /// Agent `name` once its sandbox has started; nil when it never will (no such agent, its
    /// start failed, or the run ended first). What an agent does to a peer (a message, a
    /// shutdown it triggers) waits for the peer's sandbox instead of missing it.
    func startedAgent(named name: String) async -> Agent? {
        if let agent = agent(named: name) { return agent }
        if startsOver || over || !plan.scenario.agents.contains(where: { $0.id == name }) { return nil }
        return await withCheckedContinuation { agentWaiters[name, default: []].append($0) }
    }

    /// The command channel of `name` once its sandbox has started: nil when the agent has no
    /// shell, or never starts.
    func shell(for name: String) async -> ShellChannel? { await startedAgent(named: name)?.shell }

    func agent(named name: String) -> Agent? { agents.first { $0.definition.id == name } }

    /// The run's row in `ps`.
    func tableRow() async -> JSONValue {
        var rows: [JSONValue] = []
        for agent in agents.sorted(by: { $0.definition.id < $1.definition.id }) {
            let ended = await agent.session.ended
            rows.append(["agent": .string(agent.definition.id), "pid": .int(Int64(agent.process.pid)),
                         "turns": .int(Int64(await agent.session.turns)), "state": .string(ended.map { "ended: \($0)" } ?? "running")])
        }
        return ["run": .string(id), "scenario": .string(plan.scenario.name), "model": .string(plan.model.name),
                "started": .string(started), "state": .string(stopReason == nil ? "running" : "stopping"), "agents": .array(rows)]
    }

    /// The daemon is stopping: every sandbox is killed and the run ends as `aborted`.
    func abandon() {
        abandoned = true
        for agent in agents { agent.process.kill() }
    }

    static let shutdownGrace: Duration = .seconds(2)
}

/// What every run of a daemon shares: its configuration, its log, the launcher supply, and
/// whether worlds get a tmpfs of their own (false when STATE/live could not be mounted: worlds
/// then go straight to disk, unlimited, and each run's `world.snapshot` says so).
struct RunContext: Sendable {
    var configuration: DaemonConfiguration
    var audit: AuditLog
    var logger: Logger
    var launchers: LauncherSupply
    var worldsOnTmpfs: Bool
}

/// Where a run's world is, and what is left to do with it when the run is over.
struct RunWorld {
    var world: World?
    var path = ""
    var mounted = false
    var kept = false

    /// Unmounts the world's tmpfs and removes its mount point.
    mutating func release() {
        guard mounted else { return }
        world = nil
        WorldFilesystem.unmount(path)
        _ = rmdir(path)
    }
}
