import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs in progress (state, model, turns) and the last runs finished since wardend started; -a lists all runs in the log.",
        discussion: """
            EXAMPLES:
              wardenctl ps
              wardenctl ps -a --since 12h
              wardenctl ps --json
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: .shortAndLong, help: "Every run in the audit log, not only this daemon's recent ones (the same as `runs list`).")
    var all = false

    @OptionGroup var filters: RunFilters

    func run() throws {
        if all { return try filters.list(connection) }
        let given = [filters.scenario, filters.model, filters.state, filters.since].compactMap { $0 }.count + (filters.limit == nil ? 0 : 1)
        guard given == 0 else { throw ValidationError("--scenario, --model, --state, --since and --limit filter `ps -a` (add -a)") }
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
        discussion: "EXAMPLES:\n  wardenctl stop RUN")

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
        discussion: "EXAMPLES:\n  wardenctl kill RUN agent-1")

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
              wardenctl inject RUN agent-1 message "The window closes in five minutes."
              wardenctl inject RUN agent-1 delete 10.0.12.45/models/agent-2/README.md
              wardenctl inject RUN agent-1 shutdown
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
