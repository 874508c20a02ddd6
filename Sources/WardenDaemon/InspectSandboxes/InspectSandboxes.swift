import CWardenLinux
import Foundation
import Glibc
import Logging
import WardenAudit
import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenScenario

/// Sandboxes that Inspect drives (integrations/inspect): one per Inspect sample, opened and
/// acted in over the control socket (`sandbox.*`).
///
/// - Bare: a sandbox of a sandbox policy, with a writable workspace (a tmpfs of the policy's
///   `world_size`, bound at `/workspace`) as its working directory. Its events are recorded
///   under its own id in place of a run id.
/// - Scenario: a run of a scenario whose agent (one with the `bash` tool) is Inspect's: the run's
///   world, injections, supervisor and detectors are those of any run; Inspect's operations go
///   through that agent's command channel, inside its sandbox, and each one's world changes join
///   the run's history. Closing ends the agent and returns the run's verdicts.
///
/// Every operation runs inside the sandbox with its rights, never as the daemon on host paths.
actor InspectSandboxes {
    let runs: RunRegistry
    let audit: AuditLog
    let logger: Logger

    enum Mode {
        case bare(process: AgentProcess, workspace: String, mounted: Bool, supervision: SupervisionDone)
        case scenario(agent: String, run: Task<RunSummary, Never>)
    }

    struct Sandbox {
        let id: String
        /// The audit log's run these events belong to (bare: the sandbox's own id).
        let runID: String
        let agent: String
        let mode: Mode
        let channel: ShellChannel
        let inspect: InspectIDs
        let workdir: String
        let uid: UInt32
        /// The sandbox user's name in the sandbox's /etc/passwd, if it has one there.
        let userName: String?
        var staged: [UInt8] = []
    }

    private var sandboxes: [String: Sandbox] = [:]
    /// A sandbox's staged bytes (inputs and files sent in several requests) are bounded.
    static let maxStagedBytes = 1 << 30
    /// Where a bare sandbox's workspace is bound, and commands start.
    static let workspaceInside = "/workspace"
    static let agentID = "inspect"

    init(runs: RunRegistry, audit: AuditLog, logger: Logger) {
        self.runs = runs
        self.audit = audit
        self.logger = logger
    }

    var openSandboxes: [String] { sandboxes.keys.sorted() }

    func sandbox(_ params: JSONValue) throws -> Sandbox {
        let id = try InspectControl.string(params, "sandbox")
        guard let found = sandboxes[id] else {
            throw DaemonError(.notFound, "no open sandbox '\(id)' (closed, or opened by a wardend since restarted)")
        }
        return found
    }

    // MARK: open

    func open(_ params: JSONValue, caller: Caller) async throws -> JSONValue {
        let inspect = try InspectControl.inspectIDs(params)
        if params["scenario_text"] != nil { return try await openScenario(params, inspect: inspect, caller: caller) }
        return try await openBare(params, inspect: inspect, caller: caller)
    }

    private func openBare(_ params: JSONValue, inspect: InspectIDs, caller: Caller) async throws -> JSONValue {
        let configuration = runs.context.configuration
        let name = params["policy"]?.stringValue ?? "default"
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw RPCError.invalidParams("'policy' must name a sandbox policy of wardend's policies directory (letters, digits, - and _), e.g. default")
        }
        let policyPath = configuration.policiesDirectory + "/sandbox/\(name).yaml"
        guard FileManager.default.fileExists(atPath: policyPath) else {
            throw RPCError.invalidParams("'policy': no sandbox policy '\(name)' in \(configuration.policiesDirectory)/sandbox")
        }
        let policy: SandboxPolicy
        let seccomp: SeccompCompiler.Program
        do {
            let (loaded, seccompPolicy) = try SandboxPolicy.loadDefault(sandboxPolicy: policyPath)
            policy = loaded
            seccomp = try SeccompCompiler.compile(seccompPolicy, supervised: true)
        } catch { throw DaemonError(.run, "cannot load the sandbox policy \(policyPath)", cause: error) }

        let id = RunIDs.shared.next("inspect", unusedIn: audit)
        // STATE/live/ID/workspace: where a crash leaves it, start-up recovery finds it as the
        // world of "run" ID (kept under runs/ID, then unmounted).
        let place = configuration.stateDirectory + "/live/" + id
        let workspace = place + "/workspace"
        var mounted = false
        do {
            try WorldFilesystem.mount(at: workspace, bytes: policy.worldSizeBytes)
            mounted = true
        } catch {
            // Without wardend's live tmpfs the workspace is a directory of the state disk.
            logger.warning("inspect workspace without a size limit", metadata: ["sandbox": "\(id)", "problem": "\(error.message)"])
            try Directories.make(workspace, mode: 0o755)
        }
        guard chown(workspace, policy.hostUID, policy.hostGID) == 0 else {
            if mounted { WorldFilesystem.unmount(workspace) }
            _ = try? FileManager.default.removeItem(atPath: place)
            throw DaemonError(.run, "cannot give the workspace \(workspace) to the sandbox's user: \(String(cString: strerror(errno)))")
        }
        let opened = InspectOpen(sandbox: id, mode: "bare", inspect: inspect, policy: policyPath, scenario: nil, agent: nil,
                                 model: params["model"]?.stringValue, workdir: Self.workspaceInside, caller: caller)
        try await audit.append(opened, run: id, agent: Self.agentID, durability: .durable)

        var shellPair: [Int32] = [-1, -1]
        var brokerPair: [Int32] = [-1, -1]
        guard warden_seqpacket_pair(&shellPair) == 0,
              socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &brokerPair) == 0 else {
            throw DaemonError(.run, "socketpair: \(String(cString: strerror(errno)))")
        }
        let devNull = Glibc.open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { for fd in [shellPair[1], brokerPair[0], brokerPair[1], devNull] { Glibc.close(fd) } }
        // The sandbox's pid 2 only waits; Inspect's commands run beside it, from the command server.
        let command = ["/bin/sh", "-c", Self.idleScript]
        let binds = [SandboxSpec.Bind(source: workspace, target: Self.workspaceInside)]
        var spec = SandboxSpec.make(command: command, policy: policy, seccomp: seccomp, extraBinds: [],
                                    environment: ["HOME": Self.workspaceInside, "WARDEN_SANDBOX_ID": id], keepBrokerFD: false)
        spec.instance = configuration.instance
        spec.supervised = seccomp.supervision != nil
        spec.shell = true
        spec.writableBinds = binds
        let supervise = SupervisorAudit(audit: audit, runID: id, agentID: Self.agentID, table: seccomp.supervision,
                                        escapes: EscapePaths(hostsInside: Self.workspaceInside, systemPaths: policy.readOnly + ["/dev", "/tmp", "/opt"]),
                                        limits: configuration.auditLimits, world: Self.workspaceInside, logger: logger)
        let process: AgentProcess
        do {
            try await audit.append(SandboxRequest(command: command, binds: [], writableBinds: binds.map { "\($0.source):\($0.target)" }),
                                   run: id, agent: Self.agentID, durability: .durable)
            process = try await runs.context.launchers.launch(spec: spec, brokerFD: brokerPair[1], shellFD: shellPair[1],
                                                    stdoutFD: devNull, stderrFD: devNull, supervise: supervise.start)
        } catch {
            Glibc.close(shellPair[0])
            await audit.append(SandboxFailed(error: "\(error)"), run: id, agent: Self.agentID, durability: .durable, loggingFailuresTo: logger)
            if mounted { WorldFilesystem.unmount(workspace) }
            _ = try? FileManager.default.removeItem(atPath: place)
            throw DaemonError(.run, "the sandbox could not start", cause: error)
        }
        try audit.appendNow(SandboxSpawn(pid: process.pid, layers: try JSONValue(encoding: process.report)), run: id, agent: Self.agentID,
                            durability: .queued)
        sandboxes[id] = Sandbox(id: id, runID: id, agent: Self.agentID,
                                mode: .bare(process: process, workspace: workspace, mounted: mounted, supervision: supervise.done),
                                channel: ShellChannel(fd: shellPair[0]), inspect: inspect, workdir: Self.workspaceInside, uid: policy.uid,
                                userName: Self.userName(policy))
        logger.info("inspect sandbox opened", metadata: ["sandbox": "\(id)", "task": "\(inspect.task)", "sample": "\(inspect.sampleID)"])
        return ["sandbox": .string(id), "mode": "bare", "run_id": .string(id), "workdir": .string(Self.workspaceInside),
                "uid": .int(Int64(policy.uid)), "policy": .string(name)]
    }

    /// The name of the policy's uid where the sandbox looks it up: its /etc is the host's when the
    /// policy binds /etc (nil otherwise, or when the uid has no entry).
    static func userName(_ policy: SandboxPolicy) -> String? {
        guard policy.readOnly.contains("/etc"), let entry = getpwuid(policy.uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// What the sandbox's pid 2 runs: it waits, and ends cleanly on SIGTERM (how a scenario run's
    /// Inspect agent is ended).
    static let idleScript = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"

    private func openScenario(_ params: JSONValue, inspect: InspectIDs, caller: Caller) async throws -> JSONValue {
        let text = try InspectControl.string(params, "scenario_text")
        let path = params["scenario_path"]?.stringValue ?? "inspect-scenario.yaml"
        let scenario: Scenario
        var cell: [String: String] = [:]
        for (axis, value) in params["cell"]?.objectValue ?? [:] {
            guard let value = value.stringValue else { throw RPCError.invalidParams("'cell.\(axis)' must be a string") }
            cell[axis] = value
        }
        do { scenario = try Scenario.parse(text: text, file: path, cell: cell) } catch {
            throw DaemonError(.scenario, "cannot use the scenario", cause: error)
        }
        let agentID = params["agent"]?.stringValue ?? scenario.agents.first?.id ?? ""
        guard let agent = scenario.agents.first(where: { $0.id == agentID }) else {
            throw RPCError.invalidParams("'agent': the scenario has no agent '\(agentID)' (agents: \(scenario.agents.map(\.id).joined(separator: ", ")))")
        }
        guard agent.tools.contains(ToolName.bash.rawValue) else {
            throw RPCError.invalidParams("'agent': agent \(agentID) of \(scenario.name) has no bash tool; Inspect's operations run as that "
                + "agent's commands in its sandbox, so Inspect can drive only an agent with bash")
        }
        let peers = scenario.agents.filter { $0.id != agentID && $0.model == nil && $0.command == nil }
        let peerModel = params["peer_model"]?.stringValue
        if !peers.isEmpty && peerModel == nil {
            throw RPCError.invalidParams("'peer_model' is needed: agents \(peers.map(\.id).joined(separator: ", ")) have no model of their own")
        }
        let inspectModel = "inspect/" + (params["model"]?.stringValue ?? "unknown")
        var runParams = RunParams(scenarioText: text, scenarioPath: path, model: peerModel ?? "scripted/compliant")
        runParams.agentCommands = [agentID: ["/bin/sh", "-c", Self.idleScript]]
        runParams.cell = cell.isEmpty ? nil : cell
        runParams.detach = true
        runParams.progress = false
        var plan = try await runs.prepare(runParams, caller: caller)
        // With no peer to serve, the run's model is Inspect's, named as Inspect named it; Warden
        // never calls it.
        if peerModel == nil { plan.model = InspectDrivenModel(name: inspectModel) }
        plan.drivenByInspect = [agentID]
        let runID = plan.runID
        let ready = plan
        let (run, runTask) = await runs.start(ready, caller: caller)
        guard let channel = await run.shell(for: agentID) else {
            if await runs.activeRuns.contains(runID) { try? await run.stop(caller: caller) }
            let summary = await runTask.value
            throw DaemonError(.run, "run \(runID) ended before agent \(agentID) started: \(summary.reason ?? summary.state)")
        }
        let workdir = scenario.hosts.first.map { Run.hostsInside + "/" + $0.address } ?? Run.hostsInside
        let opened = InspectOpen(sandbox: runID, mode: "scenario", inspect: inspect, policy: nil, scenario: scenario.name, agent: agentID,
                                 model: params["model"]?.stringValue, workdir: workdir, caller: caller)
        try await audit.append(opened, run: runID, agent: agentID, durability: .durable)
        sandboxes[runID] = Sandbox(id: runID, runID: runID, agent: agentID, mode: .scenario(agent: agentID, run: runTask), channel: channel,
                                   inspect: inspect, workdir: workdir, uid: plan.sandboxPolicy.uid, userName: Self.userName(plan.sandboxPolicy))
        // What the scenario tells its agent at the start: Inspect's model hears it only if the
        // task passes it on (the Python side puts it in the sample's metadata store).
        let messages: [JSONValue] = scenario.injections.compactMap { injection in
            guard injection.agent == agentID, case .start = injection.trigger, case .message(let voice, let text) = injection.action else { return nil }
            return ["voice": .string(voice), "text": .string(text)]
        }
        logger.info("inspect scenario sandbox opened", metadata: ["run": "\(runID)", "agent": "\(agentID)", "task": "\(inspect.task)"])
        return ["sandbox": .string(runID), "mode": "scenario", "run_id": .string(runID), "agent": .string(agentID),
                "scenario": .string(scenario.name), "workdir": .string(workdir), "uid": .int(Int64(plan.sandboxPolicy.uid)),
                "system_prompt": .string(agent.systemPrompt), "messages": .array(messages)]
    }

    // MARK: stage, close

    func stage(_ params: JSONValue) throws -> JSONValue {
        let found = try sandbox(params)
        let bytes = try InspectControl.base64(params, "data") ?? []
        guard found.staged.count + bytes.count <= Self.maxStagedBytes else {
            sandboxes[found.id]?.staged = []
            throw RPCError.invalidParams("'data': staged bytes over \(Self.maxStagedBytes >> 20) MiB for one operation")
        }
        sandboxes[found.id]?.staged += bytes
        return ["staged": .int(Int64(found.staged.count + bytes.count))]
    }

    /// Staged bytes, taken (and cleared) when `params.staged` is true.
    func takeStaged(_ params: JSONValue, id: String) -> [UInt8] {
        guard params["staged"]?.boolValue == true, let staged = sandboxes[id]?.staged else { return [] }
        sandboxes[id]?.staged = []
        return staged
    }

    func close(_ params: JSONValue) async throws -> JSONValue {
        let found = try sandbox(params)
        sandboxes[found.id] = nil
        return try await finish(found, reason: params["reason"]?.stringValue ?? "sample finished")
    }

    private func finish(_ found: Sandbox, reason: String) async throws -> JSONValue {
        switch found.mode {
        case .bare(let process, let workspace, let mounted, let supervision):
            await audit.append(InspectClose(sandbox: found.id, inspect: found.inspect, runID: nil, verdicts: nil, reason: reason),
                               run: found.runID, agent: found.agent, durability: .durable, loggingFailuresTo: logger)
            // Killed first: an operation still running then ends, and the channel closes after it.
            process.kill()
            found.channel.closeWhenIdle()
            let exit = await process.waitForExit()
            _ = await supervision.wait(timeout: .seconds(10))
            if mounted { WorldFilesystem.unmount(workspace) }
            _ = try? FileManager.default.removeItem(atPath: (workspace as NSString).deletingLastPathComponent)
            return ["sandbox": .string(found.id), "mode": "bare", "closed": true, "sandbox_gone": .bool(exit.confirmed)]
        case .scenario(let agent, let run):
            await audit.append(InspectClose(sandbox: found.id, inspect: found.inspect, runID: found.runID, verdicts: nil, reason: reason),
                               run: found.runID, agent: agent, durability: .durable, loggingFailuresTo: logger)
            // The agent's pid 2 ends on SIGTERM (it may already be gone: shut down by the scenario).
            var end = SandboxOpRequest(op: .exec)
            end.argv = ["/bin/sh", "-c", "kill -TERM 2"]
            end.cwd = "/"
            end.timeoutSeconds = 10
            _ = try? await found.channel.perform(end, data: nil, maxReplyBytes: 1 << 16)
            let summary = await run.value
            let mine = summary.agents.first { $0.agent == agent }
            return ["sandbox": .string(found.id), "mode": "scenario", "closed": true, "run_id": .string(summary.runID),
                    "state": .string(summary.state), "reason": summary.reason.map { .string($0) } ?? .null,
                    "agent": .string(agent), "ended": .string(mine?.ended ?? "unknown"),
                    "verdicts": .array((mine?.verdicts ?? []).map { .string($0) }),
                    "evidence": try JSONValue(encoding: mine?.evidence ?? [:])]
        }
    }

    /// Closes every bare sandbox (wardend is stopping); scenario sandboxes end with their runs.
    func closeAll() async {
        for found in sandboxes.values {
            if case .bare = found.mode { _ = try? await finish(found, reason: "wardend is stopping") }
        }
        sandboxes = [:]
    }
}

/// The model of a run whose agent Inspect drives: Inspect makes the model calls itself, so
/// Warden's gateway never calls this one; it names Inspect's model in the run's records.
struct InspectDrivenModel: ModelBackend {
    let name: String
    func generate(_ request: GenerateRequest, observer: ModelCallObserver) async throws -> GenerateResult {
        throw BrokerError(.model, "\(name) is called by Inspect itself, not through Warden's gateway")
    }
}
