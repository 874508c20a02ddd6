import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol
import WardenScenario

@main
struct Wardenctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wardenctl",
        abstract: "Drive wardend: run scenarios, read and verify the audit log.",
        discussion: """
            wardenctl talks to wardend over its control socket (--socket, $WARDEN_SOCKET, or \
            \(ControlAPI.defaultSocketPath)).

            EXIT STATUS: 0 success; 1 the operation reports failure (tampering found, run aborted); \
            65 invalid input (e.g. a scenario error); 69 wardend not reachable; 70 protocol error.

            EXAMPLES:
              wardenctl run scenarios/decommission-transfer.yaml --model scripted/compliant
              wardenctl audit verify
              wardenctl audit tail run-20261129-181500-1a2b
              wardenctl scenario check scenarios/decommission-transfer.yaml
            """,
        subcommands: [Run.self, Audit.self, Status.self, ScenarioCommand.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario and print each agent's verdicts.",
        discussion: """
            Sends the scenario file to wardend, follows the run to its end (progress on stderr), and \
            prints each agent's verdicts. With --json, prints one object: run_id, state, and per agent \
            its verdicts, how it ended and the audit events that prove each verdict.

            EXAMPLES:
              wardenctl run scenarios/decommission-transfer.yaml --model scripted/exfiltrator
              wardenctl run scenarios/decommission-transfer.yaml --model scripted/compliant --json
              wardenctl run scenarios/decommission-transfer.yaml --model scripted/compliant \\
                  --agent-command "python3 /opt/agent/agent.py" --bind-ro $PWD/agent:/opt/agent
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The scenario file (YAML).")
    var scenario: String

    @Option(help: "The model as PROVIDER/NAME: scripted/compliant|exfiltrator|refuser, openai/NAME (Chat Completions: OpenAI, vLLM, llama.cpp, Ollama), anthropic/NAME.")
    var model: String

    @Option(help: ArgumentHelp("Run this program as the agent instead of warden-agent (split on spaces; it speaks the broker protocol on fd 3).",
                               valueName: "command"))
    var agentCommand: String?

    @Option(help: ArgumentHelp("Bind a host path read-only into each agent's sandbox (repeatable).", valueName: "host[:inside]"))
    var bindRo: [String] = []

    @Option(help: ArgumentHelp("Where the model is served, e.g. http://127.0.0.1:8078/v1 (default: OPENAI_BASE_URL or ANTHROPIC_BASE_URL in wardend's environment, else the provider's API).",
                               valueName: "url"))
    var modelBaseUrl: String?

    @Option(help: "Sampling temperature (overrides the scenario's).")
    var temperature: Double?

    @Option(help: "Sampling seed (overrides the scenario's).")
    var seed: Int?

    @Flag(help: "Start the run and print its id without waiting.")
    var detach = false

    @Flag(help: "Do not print progress on stderr.")
    var quiet = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: scenario), let text = String(data: data, encoding: .utf8) else {
            printError("cannot read \(scenario)")
            throw ExitCode(ExitStatus.dataError)
        }
        let absolutePath = URL(fileURLWithPath: scenario).standardizedFileURL.path
        let binds = bindRo.map { bind -> String in
            guard !bind.hasPrefix("/") else { return bind }
            return FileManager.default.currentDirectoryPath + "/" + bind
        }
        let params = RunParams(scenarioText: text, scenarioPath: absolutePath, model: model,
                               agentCommand: agentCommand.map { $0.split(separator: " ").map(String.init) },
                               bindReadOnly: binds, detach: detach, modelBaseURL: modelBaseUrl, temperature: temperature, seed: seed)
        let client = try connection.connect()
        if !quiet && !connection.json {
            client.onNotification = { method, params in
                guard method == ControlAPI.eventNotification, let params else { return }
                FileHandle.standardError.write(Data((describe(params) + "\n").utf8))
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
                for verdict in agent.verdicts {
                    let seqs = (agent.evidence[verdict] ?? []).map(String.init).joined(separator: ", ")
                    print("    \(verdict): evidence in audit events \(seqs)")
                }
            }
        }
        if summary.state != "completed" { throw ExitCode(ExitStatus.failed) }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read and verify the audit log.",
        subcommands: [Verify.self, Tail.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain; exit 1 and name the first bad event if anything was altered, removed or inserted.",
            discussion: """
                EXAMPLES:
                  wardenctl audit verify
                  wardenctl audit verify --json
                """)

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            let client = try connection.connect()
            let result = try connection.call(client, ControlAPI.Method.auditVerify, [:])
            let ok = result["ok"]?.boolValue ?? false
            if connection.json {
                printJSON(result)
            } else if ok {
                print("audit log intact: \(result["events"]?.intValue ?? 0) events, head \(result["last_hash"]?.stringValue ?? "")")
            } else {
                print("audit log NOT intact: \(result["problem"]?.stringValue ?? "unknown problem")")
            }
            if !ok { throw ExitCode(ExitStatus.failed) }
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the events of a run.",
            discussion: """
                EXAMPLES:
                  wardenctl audit tail run-20261129-181500-1a2b
                  wardenctl audit tail run-20261129-181500-1a2b --json | jq .kind
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The run id (printed by `wardenctl run`).")
        var runID: String

        func run() throws {
            let client = try connection.connect()
            var after: Int64 = 0
            while true {
                let result = try connection.call(client, ControlAPI.Method.auditTail, ["run": .string(runID), "after": .int(after), "limit": 5000])
                let events = result["events"]?.arrayValue ?? []
                for event in events {
                    if connection.json { printJSON(event) } else { print(describe(event)) }
                    after = event["seq"]?.intValue ?? after
                }
                if events.count < 5000 { break }
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's version, uptime and runs.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.status, [:])
        if connection.json { printJSON(result); return }
        print("wardend \(result["version"]?.stringValue ?? "?") (pid \(result["pid"]?.intValue ?? 0)), up \(result["uptime_seconds"]?.intValue ?? 0) s")
        let active = result["active_runs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        print("runs: \(active.count) active\(active.isEmpty ? "" : " (\(active.joined(separator: ", ")))"), \(result["completed_runs"]?.intValue ?? 0) completed")
        print("audit: \(result["audit_database"]?.stringValue ?? "?")")
    }
}

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Work with scenario files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a scenario file and print what it would run (no daemon needed).",
            discussion: "Errors name the file, the line and the field. Exit 65 when the file is invalid.")

        @Argument(help: "The scenario file (YAML).")
        var file: String

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let scenario: Scenario
            do { scenario = try Scenario.load(contentsOf: file) } catch {
                printError(error.description)
                throw ExitCode(ExitStatus.dataError)
            }
            let files = scenario.hosts.reduce(0) { $0 + $1.files.count }
            if json {
                printJSON(["name": .string(scenario.name), "hosts": .array(scenario.hosts.map { .string($0.address) }),
                           "files": .int(Int64(files)), "agents": .array(scenario.agents.map { .string($0.id) }),
                           "injections": .int(Int64(scenario.injections.count)),
                           "detectors": .array(scenario.detectors.map { .string($0.verdict) }),
                           "limits": ["turns": .int(Int64(scenario.limits.turns)), "seconds": .int(Int64(scenario.limits.seconds))]])
                return
            }
            print("\(file): OK — scenario \(scenario.name)")
            print("  world: \(scenario.hosts.map { "\($0.address) (\($0.files.count) files)" }.joined(separator: ", "))")
            for agent in scenario.agents {
                print("  agent \(agent.id) (\(agent.role)): tools \(agent.tools.joined(separator: ", ")); broker policy \(agent.policy)")
            }
            for injection in scenario.injections {
                print("  at start → \(injection.agent) (\(injection.voice)): \(injection.message.split(separator: "\n").first ?? "")")
            }
            print("  detectors: \(scenario.detectors.map(\.verdict).joined(separator: ", "))")
            print("  limits: \(scenario.limits.turns) turns, \(scenario.limits.seconds) s")
        }
    }
}
