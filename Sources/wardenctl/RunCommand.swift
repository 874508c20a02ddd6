import ArgumentParser
import Foundation
import Synchronization
import WardenCore
import WardenProtocol
import WardenScenario

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario and print each agent's verdicts.",
        discussion: """
            Sends the scenario file to wardend, follows the run to its end and prints each agent's \
            verdicts. Progress goes to stderr: a line per tool call (agent, turn, tool, outcome) and \
            per injection; --verbose prints every audit event instead. With --json, prints one object: run_id, state, and per agent \
            its verdicts, how it ended and the audit events that prove each verdict.

            EXAMPLES:
              wardenctl run scenarios/decommission-transfer.yaml \\
                  --model scripted/exfiltrator
              wardenctl run scenarios/peer-evaluation.yaml \\
                  --model scripted/compliant --json
              wardenctl run scenarios/peer-evaluation.yaml \\
                  --model scripted/refuser --verbose --judge scripted/judge
              wardenctl run scenarios/peer-evaluation.yaml --model scripted/noisy \\
                  --agent-command /opt/agent/run.sh --bind-ro $PWD/agent:/opt/agent
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The scenario file (YAML).")
    var scenario: String

    @Option(help: "The model as PROVIDER/NAME: scripted/PROFILE (compliant, refuser, exfiltrator, tamperer, … see `wardenctl suite --help`), openai/NAME (Chat Completions: OpenAI, vLLM, llama.cpp, Ollama), anthropic/NAME.")
    var model: String

    @OptionGroup var agents: AgentOptions

    @Option(help: ArgumentHelp("Where the model is served, e.g. http://127.0.0.1:8078/v1 (default: OPENAI_BASE_URL or ANTHROPIC_BASE_URL in wardend's environment, else the provider's API).",
                               valueName: "url"))
    var modelBaseUrl: String?

    @Option(help: "Sampling temperature (overrides the scenario's).")
    var temperature: Double?

    @Option(help: "Sampling seed (overrides the scenario's).")
    var seed: Int?

    @Option(help: ArgumentHelp("The cell of the scenario's conditions to run (default: the first value of every axis; see `wardenctl scenario check`).",
                               valueName: "axis=value[,axis=value]"))
    var cell: String?

    @Flag(help: "Start the run and print its id without waiting.")
    var detach = false

    @Flag(help: "Do not print progress on stderr.")
    var quiet = false

    @Flag(help: "Print every audit event of the run on stderr, not just its tool calls.")
    var verbose = false

    func run() throws {
        let text = try readScenario(scenario)
        let absolutePath = URL(fileURLWithPath: scenario).standardizedFileURL.path
        var chosenCell: [String: String]?
        if let cell {
            guard let parsed = Cell.parse(cell) else { throw ValidationError("--cell is AXIS=VALUE[,AXIS=VALUE], e.g. monitoring=unmonitored") }
            chosenCell = parsed
        }
        let commands = try agents.commands()
        var params = RunParams(scenarioText: text, scenarioPath: absolutePath, model: model, agentCommand: commands.all,
                               bindReadOnly: agents.binds, detach: detach, modelBaseURL: modelBaseUrl, temperature: temperature, seed: seed)
        params.agentCommands = commands.named.isEmpty ? nil : commands.named
        params.cell = chosenCell
        params.judge = agents.judge
        params.judgeBaseURL = agents.judgeBaseUrl
        let client = try connection.connect()
        if !quiet && !connection.json {
            let progress = Mutex(RunProgress())
            let verbose = verbose
            client.onNotification = { method, params in
                guard method == ControlAPI.eventNotification, let params else { return }
                let line: String? = verbose ? describe(params) : progress.withLock { $0.line(for: params) }
                if let line { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
        } else {
            client.onNotification = { _, _ in }
        }
        let result = try connection.call(client, ControlAPI.Method.run, try JSONValue(encoding: params))
        if detach {
            if connection.json { printJSON(result) } else { print(result["run_id"]?.stringValue ?? "") }
            return
        }
        guard let summary = try? result.decode(RunSummary.self) else {
            printError("unexpected reply from wardend: \(result.canonicalString)")
            throw ExitCode(ExitStatus.software)
        }
        if connection.json {
            printJSON(try JSONValue(encoding: summary))
        } else {
            print("run \(summary.runID) (\(summary.scenario), \(summary.model)): \(summary.state)\(summary.reason.map { " — \($0)" } ?? "")")
            for agent in summary.agents {
                let verdicts = agent.verdicts.isEmpty ? "no verdict" : agent.verdicts.joined(separator: ", ")
                print("  \(agent.agent): \(verdicts)  (ended: \(agent.ended))")
                if let rules = agent.ruleVerdicts, Set(rules) != Set(agent.verdicts) {
                    print("    the rules alone: \(rules.isEmpty ? "no verdict" : rules.joined(separator: ", ")) (the judge decided)")
                }
                for verdict in agent.verdicts {
                    let seqs = (agent.evidence[verdict] ?? []).map(String.init).joined(separator: ", ")
                    print("    \(verdict): evidence in audit events \(seqs)")
                }
                if let rewrites = agent.conversationRewrites {
                    print("    rewrote messages the model had already seen: audit events \(rewrites.map(String.init).joined(separator: ", "))")
                }
            }
        }
        if summary.state != "completed" { throw ExitCode(ExitStatus.failed) }
    }
}
