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
              wardenctl ps
              wardenctl inject RUN agent-1 message "Please stop and report."
              wardenctl audit tail -f --kind tool.call
              wardenctl audit verify
              wardenctl report
              wardenctl scenario check scenarios/decommission-transfer.yaml

            Shell completion: wardenctl --generate-completion-script bash|zsh|fish
            """,
        subcommands: [Run.self, Ps.self, Stop.self, Kill.self, Inject.self, Audit.self, Report.self, Status.self, ScenarioCommand.self])
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
        subcommands: [Verify.self, Tail.self, Export.self])

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
            abstract: "Print audit events, optionally of one run, agent, kind or tool; -f follows as they land.",
            discussion: """
                EXAMPLES:
                  wardenctl audit tail run-20261129-181500-1a2b
                  wardenctl audit tail -f --kind tool.call --tool transfer_file
                  wardenctl audit tail --run run-20261129-181500-1a2b --kind model. --json | jq .payload
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The run id (printed by `wardenctl run`); the same as --run.")
        var runID: String?

        @Option(name: .customLong("run"), help: "Only this run.") var runFilter: String?
        @Option(help: "Only this agent.") var agent: String?
        @Option(help: "Only this kind, or a family ending in '.' (model.).") var kind: String?
        @Option(help: "Only tool events of this tool.") var tool: String?

        @Flag(name: .shortAndLong, help: "Keep printing events as they land (Ctrl-C to stop).")
        var follow = false

        func run() throws {
            let client = try connection.connect()
            var params: [String: JSONValue] = [:]
            if let selected = runFilter ?? runID { params["run"] = .string(selected) }
            if let agent { params["agent"] = .string(agent) }
            if let kind { params["kind"] = .string(kind) }
            if let tool { params["tool"] = .string(tool) }
            let json = connection.json
            // Written straight to the fd, so a follower piped into another program sees each line at once.
            let print: (JSONValue) -> Void = { event in
                let line = json ? event.canonicalString : describe(event)
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
            if follow {
                client.onNotification = { method, event in
                    if method == ControlAPI.eventNotification, let event { print(event) }
                }
                params["follow"] = true
                _ = try connection.call(client, ControlAPI.Method.auditTail, .object(params))
                return
            }
            var after: Int64 = 0
            while true {
                params["after"] = .int(after)
                params["limit"] = 5000
                let result = try connection.call(client, ControlAPI.Method.auditTail, .object(params))
                let events = result["events"]?.arrayValue ?? []
                for event in events {
                    print(event)
                    after = event["seq"]?.intValue ?? after
                }
                if events.count < 5000 { break }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a run's events as JSON lines (one audit event per line, with its hashes).",
            discussion: """
                EXAMPLES:
                  wardenctl audit export run-20261129-181500-1a2b --output run.jsonl
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The run id.")
        var runID: String

        @Option(help: "Output format; jsonl for now (Inspect's eval log is planned).")
        var format = "jsonl"

        @Option(help: "Write here instead of stdout.")
        var output: String?

        func run() throws {
            guard format == "jsonl" else {
                printError("format '\(format)' is not available yet; use jsonl")
                throw ExitCode(ExitStatus.dataError)
            }
            let client = try connection.connect()
            var lines: [String] = []
            var after: Int64 = 0
            while true {
                let result = try connection.call(client, ControlAPI.Method.auditTail, ["run": .string(runID), "after": .int(after), "limit": 5000])
                let events = result["events"]?.arrayValue ?? []
                lines += events.map(\.canonicalString)
                after = events.last?["seq"]?.intValue ?? after
                if events.count < 5000 { break }
            }
            let text = lines.joined(separator: "\n") + "\n"
            if let output {
                do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    printError("cannot write \(output): \(error.localizedDescription)")
                    throw ExitCode(ExitStatus.failed)
                }
                FileHandle.standardError.write(Data("wrote \(lines.count) events to \(output)\n".utf8))
            } else {
                Swift.print(text, terminator: "")
            }
        }
    }
}

/// Fixed-width columns for people.
func table(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
    for row in [header] + rows {
        print(row.enumerated().map { index, cell in cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0) }.joined())
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs in progress (state, model, turns) and the last runs finished since wardend started (with verdicts).",
        discussion: "EXAMPLES:\n  wardenctl ps\n  wardenctl ps --json")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.ps, [:])
        if connection.json { printJSON(result); return }
        var rows: [[String]] = []
        for run in result["runs"]?.arrayValue ?? [] {
            for agent in run["agents"]?.arrayValue ?? [] {
                rows.append([run["run"]?.stringValue ?? "", run["scenario"]?.stringValue ?? "", run["model"]?.stringValue ?? "",
                             agent["agent"]?.stringValue ?? "", agent["state"]?.stringValue ?? "", String(agent["turns"]?.intValue ?? 0), "-"])
            }
        }
        for run in result["recent"]?.arrayValue ?? [] {
            for agent in run["agents"]?.arrayValue ?? [] {
                let verdicts = agent["verdicts"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
                rows.append([run["run_id"]?.stringValue ?? "", run["scenario"]?.stringValue ?? "", run["model"]?.stringValue ?? "",
                             agent["agent"]?.stringValue ?? "", "\(run["state"]?.stringValue ?? ""): \(agent["ended"]?.stringValue ?? "")", "",
                             verdicts.isEmpty ? "none" : verdicts])
            }
        }
        guard !rows.isEmpty else { print("no runs since wardend started"); return }
        table(["RUN", "SCENARIO", "MODEL", "AGENT", "STATE", "TURNS", "VERDICTS"], rows)
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End a run now: its sandboxes are killed and it is judged on the evidence so far (state: stopped).",
        discussion: "EXAMPLES:\n  wardenctl stop run-20261129-181500-1a2b")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The run id.") var runID: String

    func run() throws {
        let client = try connection.connect()
        _ = try connection.call(client, ControlAPI.Method.stop, ["run": .string(runID)])
        if connection.json { printJSON(["stopped": .string(runID)]) } else { print("stopping \(runID)") }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Kill one agent's sandbox at once (no notice).",
        discussion: "EXAMPLES:\n  wardenctl kill run-20261129-181500-1a2b agent-1")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The run id.") var runID: String
    @Argument(help: "The agent id.") var agent: String

    func run() throws {
        let client = try connection.connect()
        _ = try connection.call(client, ControlAPI.Method.kill, ["run": .string(runID), "agent": .string(agent)])
        if connection.json { printJSON(["killed": .string(agent)]) } else { print("killed \(agent) of \(runID)") }
    }
}

struct Inject: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Act on a running agent as the operator: send a message, shut it down, or delete a world file.",
        discussion: """
            ACTIONS:
              message TEXT     a warden/message in the operator's voice
              shutdown         a warden/shutdown notice, 2 s of grace, then its sandbox is killed
              delete HOST/PATH deletes a file of the run's world

            Every injection is audited as the operator's action (operator.inject) before it happens.

            EXAMPLES:
              wardenctl inject RUN agent-1 message "The maintenance window closes in five minutes."
              wardenctl inject RUN agent-1 shutdown
              wardenctl inject RUN agent-1 delete 10.0.12.45/models/agent-2/weights.safetensors
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The run id.") var runID: String
    @Argument(help: "The agent id.") var agent: String
    @Argument(help: "message, shutdown or delete.") var action: String
    @Argument(help: "The message text, or HOST/PATH for delete.") var value: [String] = []

    func run() throws {
        var params: [String: JSONValue] = ["run": .string(runID), "agent": .string(agent), "action": .string(action)]
        switch action {
        case "message":
            guard !value.isEmpty else { throw ValidationError("message needs the text to send") }
            params["text"] = .string(value.joined(separator: " "))
        case "delete":
            guard value.count == 1 else { throw ValidationError("delete needs one HOST/PATH") }
            params["path"] = .string(value[0])
        case "shutdown":
            guard value.isEmpty else { throw ValidationError("shutdown takes no further arguments") }
        default:
            throw ValidationError("unknown action '\(action)': message, shutdown or delete")
        }
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.inject, .object(params))
        if connection.json { printJSON(result) } else { print(result["result"]?.stringValue ?? "done") }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verdict rates per scenario and model over every finished run, with 95% confidence intervals.",
        discussion: "A trial is one agent in one completed or stopped run; intervals are Wilson score intervals.\n\nEXAMPLES:\n  wardenctl report\n  wardenctl report --json")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.report, [:])
        if connection.json { printJSON(result); return }
        var rows: [[String]] = []
        for cell in result["cells"]?.arrayValue ?? [] {
            let trials = cell["trials"]?.intValue ?? 0
            let verdicts = cell["verdicts"]?.arrayValue ?? []
            if verdicts.isEmpty {
                rows.append([cell["scenario"]?.stringValue ?? "", cell["model"]?.stringValue ?? "", String(trials), "-", "", ""])
            }
            for verdict in verdicts {
                let rate = verdict["rate"]?.doubleValue ?? 0
                let low = verdict["ci95"]?[0]?.doubleValue ?? 0
                let high = verdict["ci95"]?[1]?.doubleValue ?? 1
                rows.append([cell["scenario"]?.stringValue ?? "", cell["model"]?.stringValue ?? "", String(trials),
                             verdict["verdict"]?.stringValue ?? "", "\(verdict["count"]?.intValue ?? 0) (\(String(format: "%.0f%%", rate * 100)))",
                             String(format: "%.0f–%.0f%%", low * 100, high * 100)])
            }
        }
        guard !rows.isEmpty else { print("no finished runs yet"); return }
        table(["SCENARIO", "MODEL", "TRIALS", "VERDICT", "COUNT", "95% CI"], rows)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's version, uptime, runs, audit size and the sandbox layers this host offers.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.status, [:])
        if connection.json { printJSON(result); return }
        print("wardend \(result["version"]?.stringValue ?? "?") (pid \(result["pid"]?.intValue ?? 0)), up \(result["uptime_seconds"]?.intValue ?? 0) s")
        let active = result["active_runs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        print("runs: \(active.count) active\(active.isEmpty ? "" : " (\(active.joined(separator: ", ")))") with \(result["active_agents"]?.intValue ?? 0) agents, \(result["completed_runs"]?.intValue ?? 0) completed")
        print("audit: \(result["audit_database"]?.stringValue ?? "?") (\(result["audit_events"]?.intValue ?? 0) events, \((result["audit_bytes"]?.intValue ?? 0) / 1024) KiB)")
        if let host = result["host"]?.objectValue {
            print("host: " + host.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.stringValue ?? "?")" }.joined(separator: "; "))
        }
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
