import Foundation
import Glibc
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenScenario
import WardenScriptedModels
import WardenVerdicts
import WardenWorld

/// Policies as last loaded, with the fingerprint (path, size, mtime of every policy file) they
/// were loaded at: a changed file is read again, an unchanged one is not re-parsed and
/// re-compiled for every run.
typealias PolicyCache = (fingerprint: String, sandbox: SandboxPolicy, seccomp: SeccompCompiler.Program, broker: [String: BrokerPolicy])

/// The first phase of a run, before it has an actor: a request becomes a plan or a refusal.
/// Parsed scenarios (by path, cell and text), compiled policies (by the files' fingerprint) and
/// label fingerprints (by content) are cached: a suite sends the same few texts thousands of times.
extension RunRegistry {
    /// Validates a run request. A request that cannot become a run is audited as `run.rejected`.
    func prepare(_ params: RunParams, caller: Caller) async throws -> RunPlan {
        let runID = RunIDs.shared.next("run", unusedIn: context.audit)
        do {
            guard !stopping else { throw DaemonError(.run, "wardend is shutting down; no new runs") }
            let scenario: Scenario
            scenario = try parsedScenario(params)
            if let problem = World.shellProblem(scenario) { throw DaemonError(.run, problem) }
            // A shell writes the world directly; only a world on its own tmpfs holds it to the
            // policy's world_size. Without one, a shell could fill the disk the audit log is on.
            if !context.worldsOnTmpfs, let agent = scenario.agents.first(where: { $0.tools.contains(ToolName.bash.rawValue) }) {
                throw DaemonError(.run, "agent \(agent.id) has the bash tool, but wardend could not mount the live tmpfs for worlds "
                    + "(\(context.configuration.stateDirectory)/live; its log at start says why: usually CAP_SYS_ADMIN is missing), so the "
                    + "sandbox policy's world_size cannot hold; run shell scenarios where wardend may mount tmpfs")
            }
            let settings = ModelSettings(baseURL: params.modelBaseURL, credentials: context.configuration.credentials)
            let model: any ModelBackend
            do { model = try ModelGateway.withScriptedModels.backend(for: params.model, settings: settings) } catch {
                throw DaemonError(.run, "cannot use the model '\(params.model)'", cause: error)
            }
            try await ModelPreflight.check(model)
            var agentModels: [String: any ModelBackend] = [:]
            for agent in scenario.agents {
                guard let name = agent.model else { continue }
                do { agentModels[agent.id] = try ModelGateway.withScriptedModels.backend(for: name, settings: settings) } catch {
                    throw DaemonError(.scenario, "agent \(agent.id): cannot use the model '\(name)'", cause: error)
                }
                if let backend = agentModels[agent.id] { try await ModelPreflight.check(backend) }
            }
            var judge: (any ModelBackend)?
            if let name = params.judge {
                let judgeSettings = ModelSettings(baseURL: params.judgeBaseURL ?? params.modelBaseURL, credentials: context.configuration.credentials)
                do { judge = try ModelGateway.withScriptedModels.backend(for: name, settings: judgeSettings) } catch {
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
                do { policies[agent.policy] = try BrokerPolicy.named(agent.policy, policiesDirectory: context.configuration.policiesDirectory) } catch {
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
                           policies: policies, sandboxPolicy: sandboxPolicy, seccomp: seccomp, generation: generation, judge: judge,
                           fingerprints: fingerprints(scenario))
        } catch {
            await context.audit.append(RunRejected(error: "\(error)", scenarioPath: params.scenarioPath, model: params.model, caller: caller),
                               run: runID, durability: .durable, loggingFailuresTo: context.logger)
            throw error
        }
    }

    private func loadedPolicies() throws -> (sandbox: SandboxPolicy, seccomp: SeccompCompiler.Program, broker: [String: BrokerPolicy]) {
        let fingerprint = PolicyFingerprint.of(context.configuration.policiesDirectory)
        if let cache = policyCache, cache.fingerprint == fingerprint { return (cache.sandbox, cache.seccomp, cache.broker) }
        do {
            let (policy, seccompPolicy) = try SandboxPolicy.loadDefault(sandboxPolicy: context.configuration.policiesDirectory + "/sandbox/default.yaml")
            let program = try SeccompCompiler.compile(seccompPolicy, supervised: true)
            policyCache = (fingerprint, policy, program, [:])
            return (policy, program, [:])
        } catch { throw DaemonError(.run, "cannot load the sandbox policy in \(context.configuration.policiesDirectory)/sandbox", cause: error) }
    }

    /// Space a run needs on the state directory's disk besides its world: the audit log's
    /// growth, the agents' logs, SQLite's journal.
    static let stateSpareBytes: UInt64 = 32 << 20

    /// Refuses a run the state directory's disk could not hold to its end (its final world is
    /// copied there), rather than letting it fail half-way with the audit log unable to write.
    private func checkFreeSpace(for policy: SandboxPolicy) throws {
        var info = statvfs()
        guard statvfs(context.configuration.stateDirectory, &info) == 0 else { return }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        let needed = policy.worldSizeBytes + Self.stateSpareBytes
        guard free >= needed else {
            throw DaemonError(.run, "the state directory's disk (\(context.configuration.stateDirectory)) has \(free >> 20) MiB free; "
                + "a run needs \(needed >> 20) MiB (its world_size of \(policy.worldSizeBytes >> 20) MiB plus \(Self.stateSpareBytes >> 20) MiB). "
                + "Free space or move the state directory; runs in progress carry on.")
        }
    }


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

    /// Fingerprints of a scenario's labelled contents, by the contents' hashes: a suite runs the
    /// same few worlds thousands of times.
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

}
