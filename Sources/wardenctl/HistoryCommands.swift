import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

/// `runs list`: past runs from the audit log, whenever the daemon started.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Past runs from the audit log.",
        discussion: """
            EXAMPLES:
              wardenctl runs list
              wardenctl runs list --since 12h --state aborted
              wardenctl runs list --model scripted/compliant --json
            """,
        subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Past runs (newest last), with how each ended and its verdicts; `ps -a` is the same.",
            discussion: """
                EXAMPLES:
                  wardenctl runs list
                  wardenctl runs list --scenario peer-evaluation --since 30d
                  wardenctl ps -a --state aborted
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filters: RunFilters

        func run() throws {
            try filters.list(connection)
        }
    }
}

/// Filters of `runs list` (and `ps -a`).
struct RunFilters: ParsableArguments {
    @Option(help: "Only runs of this scenario (its name, as in `ps`).") var scenario: String?
    @Option(help: "Only runs of this model (PROVIDER/NAME).") var model: String?
    @Option(help: "Only runs in this state: running, completed, stopped or aborted.") var state: String?
    @Option(help: "Only runs started at or after this time: UTC 2026-11-29, 2026-11-29T18:00:00Z, or an age (30d, 12h).")
    var since: String?
    @Option(parsing: .unconditional, help: "At most this many runs, the newest (default 50).") var limit: Int?

    static let states = ["running", "completed", "stopped", "aborted"]

    func list(_ connection: ConnectionOptions) throws {
        var params: [String: JSONValue] = [:]
        if let scenario { params["scenario"] = .string(scenario) }
        if let model { params["model"] = .string(model) }
        if let state {
            guard Self.states.contains(state) else { throw badValue("--state \(state): not a state (\(Self.states.joined(separator: ", ")))") }
            params["state"] = .string(state)
        }
        if let since { params["since"] = .string(try TimeArgument.filterValue(since, flag: "--since")) }
        if let limit {
            guard (1...100_000).contains(limit) else { throw badValue("--limit must be 1 to 100000, not \(limit)") }
            params["limit"] = .int(Int64(limit))
        }
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.runsList, .object(params))
        if connection.json { printJSON(result); return }
        let rows = (result["runs"]?.arrayValue ?? []).map { run -> [String] in
            let verdicts = (run["verdicts"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { agent, verdicts in
                "\(agent): " + ((verdicts.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",").nilIfEmpty ?? "none")
            }
            return [run["run"]?.stringValue ?? "", run["started"]?.stringValue.map { String($0.prefix(19)) } ?? "", run["scenario"]?.stringValue ?? "",
                    run["model"]?.stringValue ?? "", run["state"]?.stringValue ?? "", verdicts.joined(separator: "; ")]
        }
        if rows.isEmpty { print("no runs match"); return }
        table(["RUN", "STARTED", "SCENARIO", "MODEL", "STATE", "VERDICTS"], rows)
    }
}

/// `prune`: removes what old runs kept on disk; the log keeps their events.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove kept worlds and agent output of runs that ended before an age.",
        discussion: """
            The audit log keeps every event of a pruned run (its verdicts can still be checked and \
            rejudged); only the files under the state directory's runs/ go. Runs in progress are \
            never pruned. Each prune is audited (runs.pruned: which runs, how many bytes, who).

            EXAMPLES:
              wardenctl prune --older-than 30d --dry-run
              wardenctl prune --older-than 12h
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Prune runs that ended longer ago than this age: 30d, 12h, 45m, 90s or 2w.", valueName: "age"))
    var olderThan: String

    @Flag(help: "Only list what would be removed.")
    var dryRun = false

    func run() throws {
        guard let seconds = TimeArgument.seconds(ofAge: olderThan) else {
            throw badValue("--older-than \(olderThan): not an age; write 30d, 12h, 45m, 90s or 2w")
        }
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.prune,
                                         ["older_than_seconds": .int(seconds), "older_than": .string(olderThan), "dry_run": .bool(dryRun)])
        if connection.json { printJSON(result); return }
        let runs = (result["runs"]?.arrayValue ?? []).compactMap(\.stringValue)
        let size = ByteCountFormatter.string(fromByteCount: result["bytes"]?.intValue ?? 0, countStyle: .file)
        if runs.isEmpty {
            print("nothing to prune: no run that ended more than \(olderThan) ago keeps files")
        } else {
            print("\(dryRun ? "would remove" : "removed") the files of \(runs.count) run\(runs.count == 1 ? "" : "s") (\(size)); their events stay in the log")
            if dryRun { runs.forEach { print("  \($0)") } }
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
