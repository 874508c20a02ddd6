import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenScenario
import WardenWorld

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
    /// The scenario's labelled contents as the byte tracer recognises them.
    var fingerprints: Fingerprints
    /// Agents Inspect drives (an Inspect sandbox in scenario mode): Inspect makes their model
    /// calls, and their sandboxes have no way to the broker at all — no fd 3, no broker socket,
    /// no WARDEN_BROKER_* — so nothing run in them can speak for the agent (call `done`, claim,
    /// write model events).
    var drivenByInspect: Set<String> = []

    /// The program an agent runs as, if not `warden-agent`: one named for it (`--agent-command
    /// AGENT=CMD`), its scenario entry's `command:`, or the run's `--agent-command` for an agent
    /// with neither a command nor a model of its own (a scripted peer keeps its model).
    func command(for agent: Scenario.Agent) -> [String]? {
        if let named = params.agentCommands?[agent.id] { return named }
        if let own = agent.command { return own }
        return agent.model == nil ? agentCommand : nil
    }
}
