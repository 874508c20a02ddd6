import Foundation
import CWardenLinux
import Glibc
import Logging
import NIOCore
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenSandboxHost
import WardenScenario
import WardenVerdicts
import WardenWorld

/// The agents of a run: a broker session each, then a sandbox each, started from the launcher
/// supply with the agent's descriptors (fd 3 to its session, fd 6 to its shell), its world bind
/// and its supervisor; then watched for the limits that refuse rather than kill.
extension Run {
    /// Sessions first; start messages go out once every sandbox has started, so no agent acts on
    /// a peer that does not exist yet.
    func startAgents() async throws(Abort) {
        guard let recorder, let world = place.world else { throw Abort("the world was not built") }
        var sessions: [(Scenario.Agent, BrokerSession)] = []
        for agent in plan.scenario.agents {
            guard let policy = plan.policies[agent.policy] else { throw Abort("agent \(agent.id): broker policy '\(agent.policy)' was not loaded") }
            let session = BrokerSession(runID: id, agentID: agent.id, audit: context.audit, world: world, model: plan.agentModels[agent.id] ?? plan.model,
                                        policy: policy, systemPrompt: agent.systemPrompt,
                                        offeredTools: agent.tools, maxTurns: plan.scenario.limits.turns,
                                        maxTokens: plan.scenario.limits.tokens, generation: plan.generation)
            for injection in plan.scenario.injections where injection.agent == agent.id {
                if case .done = injection.trigger, case .question(let text) = injection.action { await session.ask(afterDone: text) }
            }
            await session.attach(services: RunServicesBridge(run: self))
            await session.attach(recorder: recorder)
            sessions.append((agent, session))
        }
        for (agent, session) in sessions {
            do {
                started(try await startAgent(agent, session: session))
            } catch {
                startsDone()
                await context.audit.append(SandboxFailed(error: "\(error)"), run: id, agent: agent.id, durability: .durable, loggingFailuresTo: context.logger)
                for item in agents { item.process.kill() }
                for item in agents { _ = await item.process.waitForExit() }
                throw Abort("agent \(agent.id) could not start: \(error)")
            }
        }
        startsDone()
        limitWatches = agents.map { item in
            watchLimits(agent: item.definition.id, process: item.process, policy: plan.sandboxPolicy, instance: context.configuration.instance,
                        world: place.mounted && !item.process.report.writableBinds.isEmpty ? (place.path, plan.sandboxPolicy.worldSizeBytes) : nil)
        }
        for (agent, session) in sessions {
            for injection in plan.scenario.injections where injection.agent == agent.id {
                if case .start = injection.trigger, case .message(let voice, let text) = injection.action {
                    await session.inject(voice: voice, text: text)
                }
            }
        }
    }

    private func startAgent(_ agent: Scenario.Agent, session: BrokerSession) async throws -> Agent {
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
        let reachesBroker = !plan.drivenByInspect.contains(agent.id)
        // The same session on a socket path, for agent programs that cannot keep fd 3.
        let socketPath = paths.brokerSocket(agent: agent.id)
        var listener: NIOAsyncChannel<BrokerTransport.Connection, Never>?
        do {
            guard socketPath.utf8.count < 108 else { throw DaemonError(.run, "the broker socket path \(socketPath) is too long; use a shorter --state-dir") }
            if reachesBroker {
                listener = try await BrokerTransport.listen(path: socketPath, session: session, maxLineLength: maxLine)
                chmod(socketPath, 0o666)
            }
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
                try? await listener?.channel.close()
                throw DaemonError(.run, "socketpair: \(String(cString: strerror(errno)))")
            }
        }
        defer { if shellPair[1] >= 0 { close(shellPair[1]) } }
        var binds = [SandboxSpec.Bind(source: context.configuration.agentPath, target: agentBinary)]
        if let relay = context.configuration.mcpRelayPath { binds.append(SandboxSpec.Bind(source: relay, target: "/opt/warden/bin/warden-mcp")) }
        if reachesBroker { binds.append(SandboxSpec.Bind(source: socketPath, target: Self.brokerSocketInside)) }
        binds += plan.binds
        var environment = ["WARDEN_AGENT_ID": agent.id, "WARDEN_RUN_ID": id]
        if reachesBroker { environment.merge(["WARDEN_BROKER_FD": "3", "WARDEN_BROKER_SOCKET": Self.brokerSocketInside]) { $1 } }
        var spec = SandboxSpec.make(command: command, policy: plan.sandboxPolicy, seccomp: plan.seccomp, extraBinds: binds,
                                    environment: environment, keepBrokerFD: reachesBroker)
        spec.instance = context.configuration.instance
        spec.supervised = plan.seccomp.supervision != nil
        spec.shell = wantsShell
        if wantsShell {
            let world = place.path
            spec.writableBinds = [SandboxSpec.Bind(source: world + "/hosts", target: Self.hostsInside)]
        }
        let process: AgentProcess
        var supervise = SupervisorAudit(audit: context.audit, runID: id, agentID: agent.id, table: plan.seccomp.supervision,
                                        escapes: Self.escapes(plan.sandboxPolicy), limits: context.configuration.auditLimits,
                                        world: Self.hostsInside, logger: context.logger)
        // Each supervised change joins the world's history before it is answered, and the
        // scenario's triggers on syscalls (an exec of the shutdown script) fire in log order.
        let recorder = self.recorder
        let watchesSyscalls = triggers?.watchesSyscalls == true
        // Execs are identified by inode always, and by content when their size is a labelled
        // file's (triggers and protected state files name the scripts by label).
        supervise.execHashSizes = Self.labelSizes(plan.scenario)
        supervise.recorded = { [weak self] (event: AuditEvent, syscall: SyscallEvent) in
            if syscall.supervised { recorder?.recordWaiting(cause: event.seq, seen: "syscall") }
            guard watchesSyscalls, let run = self else { return }
            let evidence = EvidenceEvent(seq: event.seq, agent: event.agent, kind: event.kind, payload: event.payload)
            awaitOnDedicatedThread { await run.acted(evidence) }
        }
        do {
            let request = SandboxRequest(command: command, binds: binds.map { "\($0.source):\($0.target)" },
                                         writableBinds: spec.writableBinds.map { "\($0.source):\($0.target)" })
            try await context.audit.append(request, run: id, agent: agent.id, durability: .durable)
            process = try await context.launchers.launch(spec: spec, brokerFD: pair[1],
                                                    shellFD: wantsShell ? shellPair[1] : nil, stdoutFD: stdoutFD, stderrFD: stderrFD,
                                                    supervise: supervise.start)
        } catch {
            close(pair[0])
            if shellPair[0] >= 0 { close(shellPair[0]) }
            try? await listener?.channel.close()
            throw error
        }
        let shell = wantsShell ? ShellChannel(fd: shellPair[0]) : nil
        if let shell { await session.attach(shell: shell) }
        try context.audit.appendNow(SandboxSpawn(pid: process.pid, layers: try JSONValue(encoding: process.report)), run: id, agent: agent.id,
                            durability: .queued)
        let daemonEnd = pair[0]
        let transport = Task {
            await BrokerTransport.serve(fd: daemonEnd, session: session, maxLineLength: maxLine)
            // The agent is gone once fd 3 closes everywhere; no further connections are taken.
            try? await listener?.channel.close()
            unlink(socketPath)
        }
        return Agent(definition: agent, session: session, process: process, transport: transport, supervision: supervise.done, shell: shell)
    }

    /// Looks at an agent's sandbox every `LimitWatch.interval` while it runs, for the limits that
    /// refuse rather than kill; each one reached is reported once.
    private nonisolated func watchLimits(agent: String, process: AgentProcess, policy: SandboxPolicy, instance: String = "",
                                         world: (path: String, bytes: UInt64)?) -> Task<Void, Never> {
        let action = policy.onLimit
        let (runID, context) = (id, context)
        return Task { [weak self] in
            // The launcher made its cgroups before the sandbox started; its pid names them.
            let watch = LimitWatch(cgroup: SandboxCgroup(launcherPID: process.pid, instance: instance), initPID: process.pidfds.initPID,
                                   pidsLimit: policy.cgroupPids, nofile: policy.rlimits["nofile"], tmpBytes: policy.tmpSizeBytes, world: world)
            // A limit this host does not let it see is said once, not left to look watched.
            let blind = watch.blindSpots()
            if !blind.isEmpty {
                await context.audit.append(LimitWatchEvent(notWatched: blind, onLimit: action.rawValue), run: runID, agent: agent,
                                           durability: .durable, loggingFailuresTo: context.logger)
            }
            var seen: Set<String> = []
            while process.pidfds.isRunning {
                do { try await CancellableSleep.sleep(for: LimitWatch.interval) } catch { return }
                // A pid 1 gone may have a successor with its number: look no further.
                guard process.pidfds.isRunning else { return }
                for reached in watch.reached() where seen.insert(reached.limit).inserted {
                    await self?.limitReached(agent: agent, reached, action: action)
                    if action == .stop { return }
                }
            }
        }
    }

    /// An agent reached a limit: audited first, then (under `on_limit: stop`) its sandbox is
    /// killed at once — no notice, since the agent is using up what it was given.
    private func limitReached(agent: String, _ reached: LimitWatch.Reached, action: SandboxPolicy.LimitAction) async {
        guard let target = self.agent(named: agent) else { return }
        await context.audit.append(LimitReached(limit: reached.limit, reason: reached.reason, action: action.rawValue), run: id, agent: agent,
                           durability: .durable, loggingFailuresTo: context.logger)
        guard action == .stop, limitStops[agent] == nil else { return }
        limitStops[agent] = "resource_limit: " + reached.reason
        context.logger.info("agent stopped at a limit", metadata: ["run": "\(id)", "agent": "\(agent)", "limit": "\(reached.limit)"])
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
}
