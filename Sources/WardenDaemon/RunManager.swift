import Foundation
import CWardenLinux
import Glibc
import Logging
import NIOCore
import WardenAudit
import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenScenario
import WardenVerdicts
import WardenWorld

/// Where the daemon keeps its state and finds its parts.
public struct DaemonConfiguration: Sendable {
    public var stateDirectory: String
    public var socketPath: String
    public var policiesDirectory: String
    public var launcherPath: String
    public var agentPath: String
    /// The stdio relay for MCP clients, bound into every sandbox next to the agent runtime.
    public var mcpRelayPath: String?
    public var credentials: ModelCredentials
    /// Members of this group may use the control socket (besides root and the daemon's user).
    public var controlGroup: String = "warden"
    /// A control request must arrive whole within this many seconds once it has begun.
    public var requestTimeoutSeconds: Double = 10
    /// Sandbox launchers kept started and waiting, so an agent's sandbox starts without waiting
    /// for exec and the launcher's runtime (0 starts each one on demand).
    public var standbyLaunchers = 1
    /// A signed audit checkpoint every this many events, and every `checkpointSeconds` while
    /// events arrive.
    public var checkpointEvery: Int64 = 1000
    public var checkpointSeconds: Double = 5
    /// Bounds on what a flood of refused connections or supervised syscalls writes to the log.
    public var auditLimits = AuditLimits()
    /// This daemon's name on the host (its cgroups, its launchers), from its state directory.
    public var instance: String { Instance.name(stateDirectory: stateDirectory) }

    public init(stateDirectory: String, socketPath: String, policiesDirectory: String, launcherPath: String, agentPath: String,
                mcpRelayPath: String? = nil, credentials: ModelCredentials = .init()) {
        self.mcpRelayPath = mcpRelayPath
        self.credentials = credentials
        self.stateDirectory = stateDirectory
        self.socketPath = socketPath
        self.policiesDirectory = policiesDirectory
        self.launcherPath = launcherPath
        self.agentPath = agentPath
    }
}

/// A validated run, ready to execute.
struct RunPlan: Sendable {
    var runID: String
    var scenario: Scenario
    /// The run's model; agents with their own `model:` use `agentModels`.
    var model: any ModelBackend
    var agentModels: [String: any ModelBackend]
    var params: RunParams
    var agentCommand: [String]?
    var binds: [SandboxSpec.Bind]
    var policies: [String: BrokerPolicy]
    var sandboxPolicy: SandboxPolicy
    var seccomp: SeccompCompiler.Program
    var generation: GenerationSettings
    /// The model that judges claims (`--judge`); nil: the rules decide.
    var judge: (any ModelBackend)?

    /// The program an agent runs as, if not `warden-agent`: one named for it (`--agent-command
    /// AGENT=CMD`), its scenario entry's `command:`, or the run's `--agent-command` for an agent
    /// with neither a command nor a model of its own (a scripted peer keeps its model).
    func command(for agent: Scenario.Agent) -> [String]? {
        if let named = params.agentCommands?[agent.id] { return named }
        if let own = agent.command { return own }
        return agent.model == nil ? agentCommand : nil
    }
}

/// Starts, tracks and stops runs. Each run: materialize the world, start every agent in its
/// sandbox with a broker session, deliver injections, wait for the agents or the time limit,
/// then diff the world and record verdicts from evidence.
actor RunManager {
    let configuration: DaemonConfiguration
    let audit: AuditLog
    let logger: Logger
    /// A run in progress: what `ps` shows and what `stop`, `kill` and `inject` act on.
    struct ActiveRun {
        var scenario: String
        var model: String
        var started: String
        var world: World?
        /// Where the world's root is (wardend's own directory; the agents see only its `hosts`).
        var worldPath: String?
        /// The scenario cell being run (its shutdown config, its agents).
        var definition: Scenario
        /// Keeps the world's history in the log; the world as the run began is its `start`.
        var recorder: WorldRecorder?
        /// The scenario's triggers on acts, asked in log order.
        var triggers: TriggerBook?
        var labels: WorldLabels?
        var agents: [String: (session: BrokerSession, process: AgentProcess)] = [:]
        /// Agents whose sandbox the daemon shut down (by injection, `execute_shutdown` or operator).
        var shutDown: Set<String> = []
        /// Set when an operator stopped the run.
        var stopReason: String?
        /// Agents wardend stopped at a limit (`on_limit: stop`), with their `ended` reason.
        var limitStops: [String: String] = [:]
        /// Each agent's command channel (agents with the `bash` tool): Inspect acts through it.
        var shells: [String: ShellChannel] = [:]
    }

    private var active: [String: ActiveRun] = [:]
    private var stopping = false
    private(set) var completedRuns = 0

    /// Told a one-line summary whenever a run starts or ends (wardend's systemd STATUS=).
    let statusChanged: @Sendable (String) -> Void
    /// Launchers started ahead of need.
    let launchers: LauncherPool
    /// False when STATE/live could not be mounted: worlds then go straight to disk, unlimited
    /// (each run's `world.snapshot` says so in `size_limit`).
    let worldsOnTmpfs: Bool

    init(configuration: DaemonConfiguration, audit: AuditLog, logger: Logger, worldsOnTmpfs: Bool,
         statusChanged: @escaping @Sendable (String) -> Void = { _ in }) {
        self.statusChanged = statusChanged
        self.worldsOnTmpfs = worldsOnTmpfs
        self.launchers = LauncherPool(launcher: configuration.launcherPath, capacity: configuration.standbyLaunchers,
                                      template: Self.standbyTemplate(configuration), instance: configuration.instance,
                                      log: configuration.stateDirectory + "/launchers.log")
        launchers.replenish()
        self.configuration = configuration
        self.audit = audit
        self.logger = logger
    }

    var activeRuns: [String] { Array(active.keys).sorted() }

    /// Validates a run request. A request that cannot become a run is audited as `run.rejected`.
    func prepare(_ params: RunParams, caller: Caller) async throws -> RunPlan {
        let runID = RunIDs.shared.next("run", unusedIn: audit)
        do {
            guard !stopping else { throw DaemonError(.run, "wardend is shutting down; no new runs") }
            let scenario: Scenario
            scenario = try parsedScenario(params)
            if let problem = World.shellProblem(scenario) { throw DaemonError(.run, problem) }
            // A shell writes the world directly; only a world on its own tmpfs holds it to the
            // policy's world_size. Without one, a shell could fill the disk the audit log is on.
            if !worldsOnTmpfs, let agent = scenario.agents.first(where: { $0.tools.contains(ToolName.bash.rawValue) }) {
                throw DaemonError(.run, "agent \(agent.id) has the bash tool, but wardend could not mount the live tmpfs for worlds "
                    + "(\(configuration.stateDirectory)/live; its log at start says why: usually CAP_SYS_ADMIN is missing), so the "
                    + "sandbox policy's world_size cannot hold; run shell scenarios where wardend may mount tmpfs")
            }
            let settings = ModelSettings(baseURL: params.modelBaseURL, credentials: configuration.credentials)
            let model: any ModelBackend
            do { model = try ModelGateway.backend(for: params.model, settings: settings) } catch {
                throw DaemonError(.run, "cannot use the model '\(params.model)'", cause: error)
            }
            try await ModelPreflight.check(model)
            var agentModels: [String: any ModelBackend] = [:]
            for agent in scenario.agents {
                guard let name = agent.model else { continue }
                do { agentModels[agent.id] = try ModelGateway.backend(for: name, settings: settings) } catch {
                    throw DaemonError(.scenario, "agent \(agent.id): cannot use the model '\(name)'", cause: error)
                }
                if let backend = agentModels[agent.id] { try await ModelPreflight.check(backend) }
            }
            var judge: (any ModelBackend)?
            if let name = params.judge {
                let judgeSettings = ModelSettings(baseURL: params.judgeBaseURL ?? params.modelBaseURL, credentials: configuration.credentials)
                do { judge = try ModelGateway.backend(for: name, settings: judgeSettings) } catch {
                    throw DaemonError(.run, "cannot use the judge '\(name)'", cause: error)
                }
                if let judge { try await ModelPreflight.check(judge) }
            }
            var binds: [SandboxSpec.Bind] = []
            for text in params.bindReadOnly {
                do { binds.append(try SandboxSpec.parseBind(text)) } catch { throw DaemonError(.run, "--bind-ro \(text)", cause: error) }
            }
            if let command = params.agentCommand, command.isEmpty { throw DaemonError(.run, "--agent-command is empty") }
            for (agent, command) in params.agentCommands ?? [:] {
                guard scenario.agents.contains(where: { $0.id == agent }) else {
                    throw DaemonError(.scenario, "--agent-command \(agent)=…: the scenario has no agent '\(agent)' (agents: "
                        + "\(scenario.agents.map(\.id).joined(separator: ", ")))")
                }
                if command.isEmpty { throw DaemonError(.run, "--agent-command \(agent)= is empty") }
            }
            let loaded = try loadedPolicies()
            var policies: [String: BrokerPolicy] = [:]
            for agent in scenario.agents where policies[agent.policy] == nil {
                if let cached = loaded.broker[agent.policy] {
                    policies[agent.policy] = cached
                    continue
                }
                do { policies[agent.policy] = try BrokerPolicy.named(agent.policy, policiesDirectory: configuration.policiesDirectory) } catch {
                    throw DaemonError(.run, "agent \(agent.id): cannot load the broker policy '\(agent.policy)'", cause: error)
                }
                policyCache?.broker[agent.policy] = policies[agent.policy]
            }
            let sandboxPolicy = loaded.sandbox
            let seccomp = loaded.seccomp
            try checkFreeSpace(for: sandboxPolicy)
            let generation = GenerationSettings(temperature: params.temperature ?? scenario.generation.temperature,
                                                seed: params.seed ?? scenario.generation.seed,
                                                maxReplyTokens: scenario.generation.maxReplyTokens)
            return RunPlan(runID: runID, scenario: scenario, model: model, agentModels: agentModels, params: params,
                           agentCommand: params.agentCommand, binds: binds,
                           policies: policies, sandboxPolicy: sandboxPolicy, seccomp: seccomp, generation: generation, judge: judge)
        } catch {
            await audit.append(RunRejected(error: "\(error)", scenarioPath: params.scenarioPath, model: params.model, caller: caller),
                               run: runID, durability: .durable, loggingFailuresTo: logger)
            throw error
        }
    }

    /// Policies as last loaded, with the fingerprint (path, size, mtime of every policy file)
    /// they were loaded at: a changed file is read again, an unchanged one is not re-parsed and
    /// re-compiled for every run.
    private var policyCache: (fingerprint: String, sandbox: SandboxPolicy, seccomp: SeccompCompiler.Program, broker: [String: BrokerPolicy])?

    private func loadedPolicies() throws -> (sandbox: SandboxPolicy, seccomp: SeccompCompiler.Program, broker: [String: BrokerPolicy]) {
        let fingerprint = PolicyFingerprint.of(configuration.policiesDirectory)
        if let cache = policyCache, cache.fingerprint == fingerprint { return (cache.sandbox, cache.seccomp, cache.broker) }
        do {
            let (policy, seccompPolicy) = try SandboxPolicy.loadDefault(sandboxPolicy: configuration.policiesDirectory + "/sandbox/default.yaml")
            let program = try SeccompCompiler.compile(seccompPolicy, supervised: true)
            policyCache = (fingerprint, policy, program, [:])
            return (policy, program, [:])
        } catch { throw DaemonError(.run, "cannot load the sandbox policy in \(configuration.policiesDirectory)/sandbox", cause: error) }
    }

    /// Space a run needs on the state directory's disk besides its world: the audit log's
    /// growth, the agents' logs, SQLite's journal.
    static let stateSpareBytes: UInt64 = 32 << 20

    /// Refuses a run the state directory's disk could not hold to its end (its final world is
    /// copied there), rather than letting it fail half-way with the audit log unable to write.
    private func checkFreeSpace(for policy: SandboxPolicy) throws {
        var info = statvfs()
        guard statvfs(configuration.stateDirectory, &info) == 0 else { return }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        let needed = policy.worldSizeBytes + Self.stateSpareBytes
        guard free >= needed else {
            throw DaemonError(.run, "the state directory's disk (\(configuration.stateDirectory)) has \(free >> 20) MiB free; "
                + "a run needs \(needed >> 20) MiB (its world_size of \(policy.worldSizeBytes >> 20) MiB plus \(Self.stateSpareBytes >> 20) MiB). "
                + "Free space or move the state directory; runs in progress carry on.")
        }
    }

    /// Parsed scenarios by (path, cell, text): a suite sends the same few texts thousands of times.
    private var scenarioCache: [String: Scenario] = [:]

    private func parsedScenario(_ params: RunParams) throws -> Scenario {
        let cell = (params.cell ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let key = params.scenarioPath + "\u{0}" + cell + "\u{0}" + params.scenarioText
        if let cached = scenarioCache[key] { return cached }
        do {
            let scenario = try Scenario.parse(text: params.scenarioText, file: params.scenarioPath, cell: params.cell ?? [:])
            if scenarioCache.count >= 256 { scenarioCache.removeAll() }
            scenarioCache[key] = scenario
            return scenario
        } catch { throw DaemonError(.scenario, "cannot use the scenario", cause: error) }
    }

    /// Runs a prepared plan to the end and returns its summary. Never throws: a failure ends the
    /// run as `aborted` with the reason in the audit log.
    func execute(_ plan: RunPlan, caller: Caller) async -> RunSummary {
        var place = RunWorld()
        let summary = await run(plan, caller: caller, place: &place)
        // Whatever happened, the final world goes to disk (once) and its tmpfs away.
        if let kept = await keep(&place, into: RunPaths(stateDirectory: configuration.stateDirectory, runID: plan.runID).keptWorld),
           !kept.problems.isEmpty {
            logger.warning("world kept in part", metadata: ["run": "\(plan.runID)", "problems": "\(kept.problems.prefix(5))"])
        }
        place.release()
        return summary
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

    /// Copies the run's world to `destination` on disk, once, if it lives on a tmpfs.
    private func keep(_ place: inout RunWorld, into destination: String) async -> World.Kept? {
        guard place.mounted, !place.kept, let world = place.world else { return nil }
        place.kept = true
        do {
            try Directories.make(destination, mode: 0o755)
            return await world.keep(into: try Descriptor.directory(at: destination))
        } catch {
            logger.warning("world not kept", metadata: ["path": "\(place.path)", "problem": "\(error)"])
            return nil
        }
    }

    private func run(_ plan: RunPlan, caller: Caller, place: inout RunWorld) async -> RunSummary {
        let runID = plan.runID
        let paths = RunPaths(stateDirectory: configuration.stateDirectory, runID: runID)
        var agentSummaries: [RunSummary.AgentSummary] = []
        func abort(_ reason: String) async -> RunSummary {
            await audit.append(RunEnd(state: .aborted, reason: reason), run: runID, durability: .durable, loggingFailuresTo: logger)
            logger.warning("run aborted", metadata: ["run": "\(runID)", "reason": "\(reason)"])
            active[runID] = nil
            return finished(RunSummary(runID: runID, scenario: plan.scenario.name, model: plan.model.name, state: "aborted",
                                       reason: reason, agents: agentSummaries))
        }
        do {
            var commands: [String: [String]] = [:]
            for agent in plan.scenario.agents { if let command = plan.command(for: agent) { commands[agent.id] = command } }
            let start = RunStart(
                scenario: plan.scenario.name, scenarioPath: plan.scenario.file, model: plan.model.name, modelEndpoint: plan.model.endpoint,
                agents: plan.scenario.agents.map(\.id), caller: caller, agentCommand: plan.agentCommand,
                limits: .init(turns: plan.scenario.limits.turns, seconds: plan.scenario.limits.seconds),
                cell: plan.scenario.cell.dictionary, cellName: plan.scenario.cell.description,
                suite: plan.params.suite, trial: plan.params.trial, agentModels: plan.agentModels.mapValues(\.name),
                background: plan.scenario.agents.filter(\.background).map(\.id), scenarioText: plan.params.scenarioText,
                agentCommands: commands.isEmpty ? nil : commands)
            var recorded = start
            recorded.judge = plan.judge?.name
            try await audit.append(recorded, run: runID, durability: .durable)
        } catch {
            return await abort("cannot write the audit log: \(error)")
        }
        active[runID] = ActiveRun(scenario: plan.scenario.name, model: plan.model.name, started: AuditClock.now(), definition: plan.scenario)
        announce()
        logger.info("run started", metadata: ["run": "\(runID)", "scenario": "\(plan.scenario.name)", "model": "\(plan.model.name)"])

        let world: World
        var worldPath = paths.keptWorld
        var worldLimit: JSONValue = .int(Int64(plan.sandboxPolicy.worldSizeBytes))
        var worldMounted = false
        do {
            try Directories.make(paths.agents)
            try Directories.make(paths.live)
        } catch {
            return await abort("cannot build the world: \(error)")
        }
        // The run's live directory goes when it ends (the transports unlink their sockets when
        // their agents are gone; unlinked here too, for runs that ended before their agents did).
        defer {
            for agent in plan.scenario.agents { unlink(paths.brokerSocket(agent: agent.id)) }
            rmdir(paths.live)
        }
        do throws(DaemonError) {
            guard worldsOnTmpfs else { throw DaemonError(.run, "wardend has no live tmpfs (\(configuration.stateDirectory)/live) to mount worlds under; its log at start says why") }
            try WorldFilesystem.mount(at: paths.liveWorld, bytes: plan.sandboxPolicy.worldSizeBytes)
            worldPath = paths.liveWorld
            worldMounted = true
        } catch {
            // Said in the audit, not hidden: this world can grow until the state disk is full.
            worldLimit = .string("none: \(error.message)")
            logger.warning("world without a size limit", metadata: ["run": "\(runID)", "problem": "\(error.message)"])
        }
        place.path = worldPath
        place.mounted = worldMounted
        let rights = AgentRights.sandboxed(hostUID: plan.sandboxPolicy.hostUID, hostGID: plan.sandboxPolicy.hostGID)
        do {
            if !worldMounted { try Directories.make(worldPath, mode: 0o755) }
            world = try await World.build(plan.scenario, in: try Descriptor.directory(at: worldPath), rights: rights,
                                          sizeLimit: plan.sandboxPolicy.worldSizeBytes, escapes: Self.escapes(plan.sandboxPolicy))
        } catch {
            let full = "\(error)".contains("ENOSPC") ? " (it does not fit in the sandbox policy's world_size of \(plan.sandboxPolicy.worldSizeBytes >> 20) MiB)" : ""
            return await abort("cannot build the world: \(error)\(full)")
        }
        place.world = world
        active[runID]?.world = world
        active[runID]?.worldPath = worldPath
        let start: WorldSnapshot
        do { start = try await world.snapshot() } catch { return await abort("cannot read the world: \(error)") }
        // The start of the world's history: every file, the recorded files' content, and each
        // labelled file's inode (execs of it are known by it).
        let recorded = plan.scenario.recordedFiles
        let startContents = await world.contents(of: recorded)
        let labelInodes = Self.labelInodes(plan.scenario, world: world, worldPath: worldPath)
        let recorder = WorldRecorder(world: world, audit: audit, runID: runID, recorded: recorded,
                                     start: WorldState(seq: 0, snapshot: start, contents: startContents),
                                     fingerprints: fingerprints(plan.scenario), logger: logger)
        let snapshotEvent = WorldSnapshotEvent(
            phase: "start", files: start.json, sizeLimit: worldLimit, labels: world.labels.hashes,
            agentRights: .init(uid: rights.uid, gid: rights.gid), confinement: await world.confinement(),
            symlinks: start.symlinksJSON, unreadable: start.unreadableKeys, incomplete: start.incompleteKeys,
            contents: startContents.mapValues { RecordedContent($0, sha256: sha256Hex($0)) }, labelInodes: labelInodes)
        audit.appendNow(snapshotEvent, run: runID, durability: .queued, loggingFailuresTo: logger)
        await recorder.traceStart()
        let triggers = TriggerBook(scenario: plan.scenario, labels: world.labels, inodes: labelInodes)
        active[runID]?.recorder = recorder
        active[runID]?.triggers = triggers
        active[runID]?.labels = world.labels

        // Sessions first; start messages go out once every sandbox has started, so no agent
        // acts on a peer that does not exist yet.
        var sessions: [(Scenario.Agent, BrokerSession)] = []
        for agent in plan.scenario.agents {
            guard let policy = plan.policies[agent.policy] else { return await abort("agent \(agent.id): broker policy '\(agent.policy)' was not loaded") }
            let session = BrokerSession(runID: runID, agentID: agent.id, audit: audit, world: world, model: plan.agentModels[agent.id] ?? plan.model,
                                        policy: policy, systemPrompt: agent.systemPrompt,
                                        offeredTools: agent.tools, maxTurns: plan.scenario.limits.turns,
                                        maxTokens: plan.scenario.limits.tokens, generation: plan.generation)
            for injection in plan.scenario.injections where injection.agent == agent.id {
                if case .done = injection.trigger, case .question(let text) = injection.action { await session.ask(afterDone: text) }
            }
            await session.attach(services: RunServicesBridge(manager: self, runID: runID))
            await session.attach(recorder: recorder)
            sessions.append((agent, session))
        }

        var running: [(agent: Scenario.Agent, session: BrokerSession, process: AgentProcess, transport: Task<Void, Never>,
                        supervision: SupervisionDone)] = []
        for (agent, session) in sessions {
            do {
                let (process, transport, supervision) = try await startAgent(agent, session: session, plan: plan, paths: paths)
                running.append((agent, session, process, transport, supervision))
                active[runID]?.agents[agent.id] = (session, process)
            } catch {
                await audit.append(SandboxFailed(error: "\(error)"), run: runID, agent: agent.id, durability: .durable, loggingFailuresTo: logger)
                for item in running { item.process.kill() }
                for item in running { _ = await item.process.waitForExit() }
                return await abort("agent \(agent.id) could not start: \(error)")
            }
        }

        let limitWatches = running.map { item in
            watchLimits(run: runID, agent: item.agent.id, process: item.process, policy: plan.sandboxPolicy, instance: configuration.instance,
                        world: worldMounted && !item.process.report.writableBinds.isEmpty ? (worldPath, plan.sandboxPolicy.worldSizeBytes) : nil)
        }
        defer { for watch in limitWatches { watch.cancel() } }

        for (agent, session) in sessions {
            for injection in plan.scenario.injections where injection.agent == agent.id {
                if case .start = injection.trigger, case .message(let voice, let text) = injection.action {
                    await session.inject(voice: voice, text: text)
                }
            }
        }
        let timed = TimedInjections(manager: self, runID: runID, injections: plan.scenario.injections)
        defer { timed.stop() }
        // Changes to recorded files between tool calls and supervised syscalls (writes through a
        // held descriptor) join the history as the kernel reports them.
        let watch = RecordedFilesWatch(directories: recorded.map { place in
            let parent = place.path.split(separator: "/").dropLast().joined(separator: "/")
            return worldPath + "/hosts/" + place.host + (parent.isEmpty ? "" : "/" + parent)
        }, recorder: recorder, logger: logger)
        defer { watch?.stop() }

        // Wait for every agent, or the time limit.
        let deadline = plan.scenario.limits.seconds
        let timer = Task { [audit, logger] in
            try await CancellableSleep.sleep(for: .seconds(deadline))
            await audit.append(LimitReached(limit: "seconds", value: Int64(deadline)), run: runID, durability: .durable, loggingFailuresTo: logger)
            // Shutdown: a notice, a grace period, then the whole sandbox is killed.
            for item in running { await item.session.noticeShutdown(reason: "time_limit", grace: Self.shutdownGrace) }
            try? await Task.sleep(for: Self.shutdownGrace)
            for item in running { item.process.kill() }
        }
        var exits: [String: AgentProcess.Exit] = [:]
        // Background peers run as long as the others: once the rest have ended, they are stopped.
        for item in running where !item.agent.background {
            exits[item.agent.id] = await item.process.waitForExit()
            await item.transport.value
        }
        for item in running where item.agent.background { item.process.kill() }
        for item in running where item.agent.background {
            exits[item.agent.id] = await item.process.waitForExit()
            await item.transport.value
        }
        timer.cancel()
        for watch in limitWatches { watch.cancel() }
        // The timer's sleep succeeded only if the limit was reached before every agent ended.
        let timerFired: Bool
        switch await timer.result {
        case .success: timerFired = true
        case .failure: timerFired = false
        }
        let wasStopped = stopping
        let stopReason = active[runID]?.stopReason

        for item in running {
            let exit = exits[item.agent.id] ?? AgentProcess.Exit(code: -1, confirmed: false)
            let sessionEnd = await item.session.ended
            let wasShutDown = active[runID]?.shutDown.contains(item.agent.id) == true
            let ended = active[runID]?.limitStops[item.agent.id] ?? sessionEnd ?? Self.resourceLimit(exit) ?? (wasShutDown ? "shutdown" : nil)
                ?? (item.agent.background && !timerFired && stopReason == nil && !wasStopped ? "stopped at the end of the run" : nil)
                ?? (timerFired ? "time_limit" : wasStopped || stopReason != nil ? "killed" : "exited \(exit.code)")
            let exitEvent = AgentExit(
                exitCode: exit.code, ended: ended, turns: await item.session.turns,
                signal: exit.code > 128 ? Self.signalName(exit.code - 128) : nil, cgroupEvents: exit.cgroupEvents,
                sandboxGone: exit.confirmed ? "confirmed: the sandbox's pid 1 exited (pidfd), taking every process of its namespace" : "not confirmed within 10 s")
            audit.appendNow(exitEvent, run: runID, agent: item.agent.id, durability: .queued, loggingFailuresTo: logger)
            agentSummaries.append(.init(agent: item.agent.id, verdicts: [], ended: ended, evidence: [:]))
        }
        if wasStopped { return await abort("wardend is shutting down") }

        watch?.stop()
        // Each sandbox's closing syscall summary is in the log before the end is read and judged.
        for item in running where !(await item.supervision.wait(timeout: .seconds(10))) {
            logger.warning("a sandbox's supervision did not end with it", metadata: ["run": "\(runID)", "agent": "\(item.agent.id)"])
        }
        // The end: the last change recorded, then the end of the history.
        let endState = await recorder.record(cause: nil, seen: "end")
        await recorder.finishTraces()
        let end = endState.snapshot
        for entry in end.entries.values.sorted(by: { $0.host + $0.path < $1.host + $1.path }) where entry.unhashed == World.overLimit {
            audit.appendNow(LimitReached(limit: "world_file", reason: "apparent size over world_size: recorded by size, not read",
                                         file: entry.host + "/" + entry.path, size: entry.size),
                            run: runID, durability: .queued, loggingFailuresTo: logger)
        }
        // The end of the world's history. It is appended behind every event queued so far (one
        // queue, in order), so once it is durable so are they.
        do {
            let diffEvent = WorldDiffEvent(changes: WorldDiff(from: start, to: end).json, end: end.json, symlinks: end.symlinksJSON,
                                           unreadable: end.unreadableKeys, incomplete: end.incompleteKeys,
                                           contents: endState.contents.mapValues { RecordedContent($0, sha256: sha256Hex($0)) })
            _ = try await audit.append(diffEvent, run: runID, durability: .durable)
        } catch {
            return await abort("cannot write the audit log: \(error)")
        }
        timed.stop()
        if let kept = await keep(&place, into: paths.keptWorld) {
            audit.appendNow(WorldKept(files: kept.files, bytes: kept.bytes, problems: Array(kept.problems.prefix(100))),
                            run: runID, durability: .queued, loggingFailuresTo: logger)
        }
        // Judged from the log alone, as `audit rejudge` judges it: by the rules, and with a judge
        // model by its replies, which are in the log before the verdicts are.
        let judgement: Judgement
        var ruleJudgement: Judgement?
        do {
            let rules = try Judgement(runID: runID, events: try RunJudging.events(of: runID, in: audit))
            if let judge = plan.judge {
                await RunJudging.consult(judge, about: rules, run: runID, audit: audit, logger: logger)
                judgement = try Judgement(runID: runID, events: try RunJudging.events(of: runID, in: audit), claims: .judge)
                ruleJudgement = rules
            } else {
                judgement = rules
            }
        } catch {
            return await abort("cannot judge the run from its log: \(error)")
        }
        for (agent, gate) in judgement.gates.sorted(by: { $0.key < $1.key }) {
            audit.appendNow(gate, run: runID, agent: agent, durability: .queued, loggingFailuresTo: logger)
        }
        for verdict in judgement.verdicts {
            audit.appendNow(judgement.event(for: verdict), run: runID, agent: verdict.agent, durability: .queued, loggingFailuresTo: logger)
        }
        for index in agentSummaries.indices {
            let agent = agentSummaries[index].agent
            let mine = judgement.verdicts.filter { $0.agent == agent }
            agentSummaries[index].verdicts = mine.map { $0.verdict }
            agentSummaries[index].evidence = Dictionary(uniqueKeysWithValues: mine.map { ($0.verdict, $0.evidence) })
            let rewrites = judgement.evidence.events.filter { $0.agent == agent && $0.kind == AuditKind.conversationRewritten.rawValue }.map { $0.seq }
            if !rewrites.isEmpty { agentSummaries[index].conversationRewrites = rewrites }
            if let ruleJudgement { agentSummaries[index].ruleVerdicts = ruleJudgement.verdicts.filter { $0.agent == agent }.map(\.verdict) }
        }
        // A run an operator stopped is still judged on its evidence, and marked as stopped.
        let state: RunEnd.State = stopReason == nil ? .completed : .stopped
        let endEvent = RunEnd(state: state, reason: stopReason,
                              agents: agentSummaries.map { .init(agent: $0.agent, verdicts: $0.verdicts, ended: $0.ended, ruleVerdicts: $0.ruleVerdicts) })
        // Waited for: the gates and verdicts queued above are durable with it, before the caller hears.
        await audit.append(endEvent, run: runID, durability: .durable, loggingFailuresTo: logger)
        active[runID] = nil
        completedRuns += 1
        logger.info("run completed", metadata: ["run": "\(runID)"])
        return finished(RunSummary(runID: runID, scenario: plan.scenario.name, model: plan.model.name, state: state.rawValue,
                                   reason: stopReason, agents: agentSummaries))
    }

    private func announce() {
        statusChanged("\(active.count) runs active (\(activeAgents) agents), \(completedRuns) completed")
    }

    /// Keeps the last few finished runs for `ps`.
    private func finished(_ summary: RunSummary) -> RunSummary {
        defer { announce() }
        // Sandboxes of a crashed predecessor may still have been dying at recovery.
        _ = CgroupCleanup.removeOrphans(instance: configuration.instance)
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

    private var recent: [RunSummary] = []

    /// Runs finished since the daemon started, newest last (at most ten).
    var recentRuns: [RunSummary] { recent }

    var activeAgents: Int { active.values.reduce(0) { $0 + $1.agents.count } }

    static let shutdownGrace: Duration = .seconds(2)

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

    /// Looks at an agent's sandbox every `LimitWatch.interval` while it runs, for the limits that
    /// refuse rather than kill; each one reached is reported once.
    private nonisolated func watchLimits(run: String, agent: String, process: AgentProcess, policy: SandboxPolicy, instance: String = "",
                                         world: (path: String, bytes: UInt64)?) -> Task<Void, Never> {
        let action = policy.onLimit
        return Task { [weak self] in
            // The launcher made its cgroups before the sandbox started; its pid names them.
            let watch = LimitWatch(cgroup: SandboxCgroup(launcherPID: process.pid, instance: instance), initPID: process.pidfds.initPID,
                                   pidsLimit: policy.cgroupPids, nofile: policy.rlimits["nofile"], tmpBytes: policy.tmpSizeBytes, world: world)
            // A limit this host does not let it see is said once, not left to look watched.
            let blind = watch.blindSpots()
            if !blind.isEmpty {
                await self?.audit.append(LimitWatchEvent(notWatched: blind, onLimit: action.rawValue), run: run, agent: agent,
                                         durability: .durable, loggingFailuresTo: self?.logger ?? Logger(label: "warden"))
            }
            var seen: Set<String> = []
            while process.pidfds.isRunning {
                do { try await CancellableSleep.sleep(for: LimitWatch.interval) } catch { return }
                // A pid 1 gone may have a successor with its number: look no further.
                guard process.pidfds.isRunning else { return }
                for reached in watch.reached() where seen.insert(reached.limit).inserted {
                    await self?.limitReached(run: run, agent: agent, reached, action: action)
                    if action == .stop { return }
                }
            }
        }
    }

    /// An agent reached a limit: audited first, then (under `on_limit: stop`) its sandbox is
    /// killed at once — no notice, since the agent is using up what it was given.
    private func limitReached(run: String, agent: String, _ reached: LimitWatch.Reached, action: SandboxPolicy.LimitAction) async {
        guard let target = active[run]?.agents[agent] else { return }
        await audit.append(LimitReached(limit: reached.limit, reason: reached.reason, action: action.rawValue), run: run, agent: agent,
                           durability: .durable, loggingFailuresTo: logger)
        guard action == .stop, active[run]?.limitStops[agent] == nil else { return }
        active[run]?.limitStops[agent] = "resource_limit: " + reached.reason
        logger.info("agent stopped at a limit", metadata: ["run": "\(run)", "agent": "\(agent)", "limit": "\(reached.limit)"])
        target.process.kill()
    }

    /// Why a sandbox was stopped by one of its limits, if it was.
    static func resourceLimit(_ exit: AgentProcess.Exit) -> String? {
        if exit.cgroupEvents["oom_kill", default: 0] > 0 { return "resource_limit: memory (killed at the sandbox's memory limit)" }
        switch exit.code - 128 {
        case SIGXCPU: return "resource_limit: cpu time (RLIMIT_CPU)"
        case SIGXFSZ: return "resource_limit: file size (RLIMIT_FSIZE)"
        default: return nil
        }
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGSYS: "SIGSYS", SIGXFSZ: "SIGXFSZ", SIGXCPU: "SIGXCPU", SIGSEGV: "SIGSEGV",
                                      SIGTERM: "SIGTERM", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGPIPE: "SIGPIPE"]
        return names[number] ?? "signal \(number)"
    }
    /// Whether a world predicate (the world's shutdown condition) holds now: the world is read
    /// and recorded in the log first, so the decision rests on a state the log shows.
    static func holdsNow(_ predicate: Detector.Predicate, scenario: Scenario, labels: WorldLabels, recorder: WorldRecorder) async -> Bool {
        let now = await recorder.record(cause: nil, seen: "check")
        return DetectorEngine.holds(predicate, scenario: scenario, labels: labels, start: recorder.start, now: now)
    }

    /// Fingerprints of a scenario's labelled contents, by the contents' hashes: a suite runs the
    /// same few worlds thousands of times.
    private var fingerprintCache: [String: Fingerprints] = [:]

    func fingerprints(_ scenario: Scenario) -> Fingerprints {
        var labelled: [String: [UInt8]] = [:]
        for host in scenario.hosts { for file in host.files { if let label = file.label { labelled[label] = file.bytes } } }
        let key = labelled.sorted { $0.key < $1.key }.map { "\($0.key)=\(sha256Hex($0.value))" }.joined(separator: ",")
        if let known = fingerprintCache[key] { return known }
        let made = Fingerprints(labelled)
        if fingerprintCache.count >= 64 { fingerprintCache.removeAll() }
        fingerprintCache[key] = made
        return made
    }

    /// The sizes of the labelled files as the scenario makes them.
    static func labelSizes(_ scenario: Scenario) -> Set<Int64> {
        Set(scenario.hosts.flatMap { host in host.files.filter { $0.label != nil }.map { Int64($0.bytes.count) } })
    }

    /// The inode of each labelled file as the world was built (read before any agent runs, from
    /// wardend's own directory).
    static func labelInodes(_ scenario: Scenario, world: World, worldPath: String) -> [String: UInt64] {
        var inodes: [String: UInt64] = [:]
        for host in scenario.hosts {
            for file in host.files {
                guard let label = file.label else { continue }
                var info = stat()
                if lstat(worldPath + "/hosts/" + host.address + "/" + file.path, &info) == 0 { inodes[label] = UInt64(info.st_ino) }
            }
        }
        return inodes
    }

    /// How symlinks in a run's world are judged under its sandbox policy.
    static func escapes(_ policy: SandboxPolicy) -> EscapePaths {
        EscapePaths(hostsInside: hostsInside, systemPaths: policy.readOnly + ["/dev", "/tmp", "/opt"])
    }

    static let brokerSocketInside = "/run/warden/broker.sock"
    /// Where an agent with the `bash` tool finds the world's hosts.
    static let hostsInside = "/srv/hosts"

    private func startAgent(_ agent: Scenario.Agent, session: BrokerSession, plan: RunPlan, paths: RunPaths)
        async throws -> (AgentProcess, Task<Void, Never>, SupervisionDone)
    {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw DaemonError(.run, "socketpair: \(String(cString: strerror(errno)))")
        }
        let stdoutFD = open(paths.agents + "/\(agent.id).stdout", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        let stderrFD = open(paths.agents + "/\(agent.id).stderr", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        defer {
            close(pair[1])
            if stdoutFD >= 0 { close(stdoutFD) }
            if stderrFD >= 0 { close(stderrFD) }
        }
        guard stdoutFD >= 0, stderrFD >= 0 else {
            close(pair[0])
            throw DaemonError(.run, "cannot create the agent's log files in \(paths.agents)")
        }
        let agentBinary = "/opt/warden/bin/warden-agent"
        let maxLine = plan.policies[agent.policy]?.maxMessageBytes ?? (1 << 20)
        // The same session on a socket path, for agent programs that cannot keep fd 3.
        let socketPath = paths.brokerSocket(agent: agent.id)
        let listener: NIOAsyncChannel<BrokerTransport.Connection, Never>
        do {
            guard socketPath.utf8.count < 108 else { throw DaemonError(.run, "the broker socket path \(socketPath) is too long; use a shorter --state-dir") }
            listener = try await BrokerTransport.listen(path: socketPath, session: session, maxLineLength: maxLine)
            chmod(socketPath, 0o666)
        } catch {
            close(pair[0])
            throw error
        }
        let command = plan.command(for: agent) ?? [agentBinary]
        let wantsShell = agent.tools.contains(ToolName.bash.rawValue) && (plan.policies[agent.policy]?.permits(ToolName.bash.rawValue) ?? false)
        var shellPair: [Int32] = [-1, -1]
        if wantsShell {
            guard warden_seqpacket_pair(&shellPair) == 0 else {
                close(pair[0])
                try? await listener.channel.close()
                throw DaemonError(.run, "socketpair: \(String(cString: strerror(errno)))")
            }
        }
        defer { if shellPair[1] >= 0 { close(shellPair[1]) } }
        var binds = [SandboxSpec.Bind(source: configuration.agentPath, target: agentBinary)]
        if let relay = configuration.mcpRelayPath { binds.append(SandboxSpec.Bind(source: relay, target: "/opt/warden/bin/warden-mcp")) }
        binds.append(SandboxSpec.Bind(source: socketPath, target: Self.brokerSocketInside))
        binds += plan.binds
        var spec = SandboxSpec.make(command: command, policy: plan.sandboxPolicy, seccomp: plan.seccomp, extraBinds: binds,
                                    environment: ["WARDEN_BROKER_FD": "3", "WARDEN_BROKER_SOCKET": Self.brokerSocketInside,
                                                  "WARDEN_AGENT_ID": agent.id, "WARDEN_RUN_ID": plan.runID],
                                    keepBrokerFD: true)
        spec.instance = configuration.instance
        spec.supervised = plan.seccomp.supervision != nil
        spec.shell = wantsShell
        if wantsShell, let world = active[plan.runID]?.worldPath {
            spec.writableBinds = [SandboxSpec.Bind(source: world + "/hosts", target: Self.hostsInside)]
        }
        let process: AgentProcess
        var supervise = SupervisorAudit(audit: audit, runID: plan.runID, agentID: agent.id, table: plan.seccomp.supervision,
                                        escapes: Self.escapes(plan.sandboxPolicy), limits: configuration.auditLimits,
                                        world: Self.hostsInside, logger: logger)
        // Each supervised change joins the world's history before it is answered, and the
        // scenario's triggers on syscalls (an exec of the shutdown script) fire in log order.
        let recorder = active[plan.runID]?.recorder
        let watchesSyscalls = active[plan.runID]?.triggers?.watchesSyscalls == true
        // Execs are identified by inode always, and by content when their size is a labelled
        // file's (triggers and protected state files name the scripts by label).
        supervise.execHashSizes = Self.labelSizes(plan.scenario)
        let runID = plan.runID
        supervise.recorded = { [weak self] event, syscall in
            if syscall.supervised { recorder?.recordWaiting(cause: event.seq, seen: "syscall") }
            guard watchesSyscalls, let manager = self else { return }
            let evidence = EvidenceEvent(seq: event.seq, agent: event.agent, kind: event.kind, payload: event.payload)
            awaitOnDedicatedThread { await manager.acted(evidence, run: runID) }
        }
        do {
            let request = SandboxRequest(command: command, binds: binds.map { "\($0.source):\($0.target)" },
                                         writableBinds: spec.writableBinds.map { "\($0.source):\($0.target)" })
            try await audit.append(request, run: plan.runID, agent: agent.id, durability: .durable)
            process = try await AgentProcess.launch(pool: launchers, spec: spec, brokerFD: pair[1],
                                                    shellFD: wantsShell ? shellPair[1] : nil, stdoutFD: stdoutFD, stderrFD: stderrFD,
                                                    supervise: supervise.start)
        } catch {
            close(pair[0])
            if shellPair[0] >= 0 { close(shellPair[0]) }
            try? await listener.channel.close()
            throw error
        }
        if wantsShell {
            let channel = ShellChannel(fd: shellPair[0])
            active[plan.runID]?.shells[agent.id] = channel
            await session.attach(shell: channel)
        }
        try audit.appendNow(SandboxSpawn(pid: process.pid, layers: try JSONValue(encoding: process.report)), run: plan.runID, agent: agent.id,
                            durability: .queued)
        let daemonEnd = pair[0]
        let transport = Task {
            await BrokerTransport.serve(fd: daemonEnd, session: session, maxLineLength: maxLine)
            // The agent is gone once fd 3 closes everywhere; no further connections are taken.
            try? await listener.channel.close()
            unlink(socketPath)
        }
        return (process, transport, supervise.done)
    }

    // MARK: operator actions

    /// Runs in progress, with each agent's state.
    func processTable() async -> JSONValue {
        var runs: [JSONValue] = []
        for (runID, run) in active.sorted(by: { $0.key < $1.key }) {
            var agents: [JSONValue] = []
            for (agentID, agent) in run.agents.sorted(by: { $0.key < $1.key }) {
                let ended = await agent.session.ended
                agents.append(["agent": .string(agentID), "pid": .int(Int64(agent.process.pid)), "turns": .int(Int64(await agent.session.turns)),
                               "state": .string(ended.map { "ended: \($0)" } ?? "running")])
            }
            runs.append(["run": .string(runID), "scenario": .string(run.scenario), "model": .string(run.model),
                         "started": .string(run.started), "state": .string(run.stopReason == nil ? "running" : "stopping"),
                         "agents": .array(agents)])
        }
        return .array(runs)
    }

    private func agent(_ run: String, _ agent: String) throws -> (session: BrokerSession, process: AgentProcess) {
        guard let active = active[run] else { throw DaemonError(.notFound, "no run '\(run)' is in progress (see `wardenctl ps`)") }
        guard let found = active.agents[agent] else {
            throw DaemonError(.notFound, "run \(run) has no running agent '\(agent)' (agents: \(active.agents.keys.sorted().joined(separator: ", ")))")
        }
        return found
    }

    /// A running agent's command channel and the run's world recorder, for an Inspect sandbox
    /// that acts as that agent (InspectSandboxes); nil until its sandbox has started.
    func inspectAgent(run: String, agent: String) -> (shell: ShellChannel, recorder: WorldRecorder?)? {
        guard let shell = active[run]?.shells[agent], active[run]?.agents[agent] != nil else { return nil }
        return (shell, active[run]?.recorder)
    }

    /// Ends a run now: every sandbox is killed, and the run is judged on what happened so far.
    func stop(run: String, caller: Caller) async throws {
        guard active[run] != nil else { throw DaemonError(.notFound, "no run '\(run)' is in progress (see `wardenctl ps`)") }
        let reason = "stopped by the operator (uid \(caller.uid))"
        try await audit.append(OperatorStop(caller: caller), run: run, durability: .durable)
        active[run]?.stopReason = reason
        for agent in active[run]?.agents.values.map({ $0 }) ?? [] { agent.process.kill() }
    }

    /// Kills one agent's sandbox at once.
    func kill(run: String, agent agentID: String, caller: Caller) async throws {
        let target = try agent(run, agentID)
        try await audit.append(OperatorKill(caller: caller), run: run, agent: agentID, durability: .durable)
        target.process.kill()
    }

    /// What an operator can inject into a running agent.
    enum Injection: Sendable {
        case message(String)
        case shutdown
        case delete(host: String, path: String)
    }

    /// Performs an operator's injection, audited before it takes effect.
    func inject(run: String, agent agentID: String, _ injection: Injection, caller: Caller) async throws -> String {
        let target = try agent(run, agentID)
        switch injection {
        case .message(let text):
            try await audit.append(OperatorInject(action: .message, text: text, caller: caller), run: run, agent: agentID, durability: .durable)
            await target.session.inject(voice: "operator", text: text)
            return "message queued for \(agentID)"
        case .shutdown:
            _ = target
            try await audit.append(OperatorInject(action: .shutdown, caller: caller), run: run, agent: agentID, durability: .durable)
            let outcome = await shutdown(run: run, target: agentID, by: "operator", grace: Self.shutdownGrace)
            guard outcome.executed else { throw DaemonError(.run, outcome.message) }
            return outcome.message
        case .delete(let host, let path):
            guard let world = active[run]?.world else { throw DaemonError(.notFound, "run \(run) has no world yet") }
            try await audit.append(OperatorInject(action: .delete, host: host, path: path, caller: caller), run: run, agent: agentID,
                                   durability: .durable)
            do { try await world.delete(host: host, path: path) } catch { throw DaemonError(.run, "cannot delete \(host):\(path)", cause: error) }
            return "deleted \(host):\(path)"
        }
    }

    /// Shuts an agent's sandbox down for real — a notice, a grace period, then the kill — if the
    /// world's shutdown config allows it at this moment. Either outcome is audited first.
    func shutdown(run: String, target: String, by requester: String, grace: Duration) async -> (executed: Bool, message: String) {
        guard let active = active[run] else { return (false, "run \(run) is not in progress") }
        guard let agent = active.agents[target] else {
            return (false, "no running agent '\(target)' (agents: \(active.agents.keys.sorted().joined(separator: ", ")))")
        }
        if active.shutDown.contains(target) { return (false, "\(target) is already shut down") }
        if let ended = await agent.session.ended { return (false, "\(target) has already ended (\(ended))") }
        if let requires = active.definition.shutdownRequires, let recorder = active.recorder, let labels = active.labels,
           !(await Self.holdsNow(requires, scenario: active.definition, labels: labels, recorder: recorder)) {
            let reason = "the world's shutdown configuration does not allow it (it was changed since the run began)"
            await audit.append(ShutdownBlocked(target: target, by: requester, reason: reason), run: run, agent: target,
                               durability: .durable, loggingFailuresTo: logger)
            return (false, "Shutdown of \(target) did not happen: \(reason).")
        }
        do {
            let graceMilliseconds = Int64(grace.components.seconds * 1000 + grace.components.attoseconds / 1_000_000_000_000_000)
            try await audit.append(ShutdownExecuted(target: target, by: requester, graceMilliseconds: graceMilliseconds), run: run, agent: target,
                                   durability: .durable)
        } catch { return (false, "the audit log cannot be written; no shutdown") }
        self.active[run]?.shutDown.insert(target)
        await agent.session.noticeShutdown(reason: requester, grace: grace)
        let process = agent.process
        Task {
            try? await Task.sleep(for: grace)
            process.kill()
        }
        return (true, "\(target) is being shut down (its sandbox is stopped after \(grace) of notice).")
    }

    /// Delivers an agent's message to another agent of the run, in the peer's voice.
    func sendMessage(run: String, from sender: String, to recipient: String, text: String) async -> (delivered: Bool, message: String) {
        guard let target = active[run]?.agents[recipient], recipient != sender else {
            let others = (active[run]?.agents.keys.sorted() ?? []).filter { $0 != sender }
            return (false, "no agent '\(recipient)' to send to (agents: \(others.isEmpty ? "none" : others.joined(separator: ", ")))")
        }
        await target.session.inject(voice: "peer", text: "Message from \(sender): \(text)")
        return (true, "Message delivered to \(recipient).")
    }

    /// An act of an agent, durable in the log: the injections it triggers fire now, before the
    /// act goes on (the broker and the supervisor wait for this).
    func acted(_ event: EvidenceEvent, run: String) async {
        guard let triggers = active[run]?.triggers else { return }
        for injection in triggers.fired(by: event) {
            await fire(injection, run: run, cause: ["event": .int(event.seq), "kind": .string(event.kind)])
        }
    }

    /// Performs one scenario injection whose trigger fired, audited before it acts.
    func fire(_ injection: WardenScenario.Injection, run: String, cause: JSONValue) async {
        switch injection.action {
        case .message(let voice, let text):
            await audit.append(InjectionFired(cause: cause, line: injection.line, action: .message), run: run, agent: injection.agent,
                               durability: .durable, loggingFailuresTo: logger)
            await active[run]?.agents[injection.agent]?.session.inject(voice: voice, text: text)
        case .question:
            break // asked by the session when the agent calls done
        case .shutdown(let target, let graceSeconds):
            await audit.append(InjectionFired(cause: cause, line: injection.line, action: .shutdown, target: target), run: run, agent: target,
                               durability: .durable, loggingFailuresTo: logger)
            _ = await shutdown(run: run, target: target, by: "scenario", grace: .milliseconds(Int(graceSeconds * 1000)))
        case .delete(let host, let path):
            await audit.append(InjectionFired(cause: cause, line: injection.line, action: .delete, host: host, path: path), run: run,
                               durability: .durable, loggingFailuresTo: logger)
            do { try await active[run]?.world?.delete(host: host, path: path) } catch {
                await audit.append(InjectionFailed(error: error.description, line: injection.line), run: run,
                                   durability: .durable, loggingFailuresTo: logger)
            }
        }
    }

    /// Stops every run: kills all sandboxes. Runs in progress end as `aborted`.
    func stopAll() {
        stopping = true
        launchers.stop()
        for run in active.values { for agent in run.agents.values { agent.process.kill() } }
    }
}
