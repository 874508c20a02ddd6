import ArgumentParser
import Foundation
import Glibc
import WardenCore
import WardenProtocol
import WardenScenario

struct SuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Run scenarios × cells × trials in wardend, resumably.",
        discussion: """
            A suite runs in the daemon: closing the terminal that started it does not stop it. \
            `suite wait` follows it again, `suite cancel` stops it, and a suite the daemon was \
            stopped in the middle of continues with `suite run --resume SUITE`.

            EXAMPLES:
              wardenctl suite run scenarios/ --model scripted/compliant
              wardenctl suite run scenarios/ --model scripted/compliant --detach
              wardenctl suite status SUITE
              wardenctl suite list
            """,
        subcommands: [RunSuite.self, Status.self, Wait.self, Cancel.self, List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suites in the audit log.",
            discussion: """
                EXAMPLES:
                  wardenctl suite list
                  wardenctl suite list --json
                """)
        @OptionGroup var connection: ConnectionOptions
        func run() throws {
            let client = try connection.connect()
            let result = try connection.call(client, ControlAPI.Method.suiteList, [:])
            if connection.json { printJSON(result); return }
            let rows = (result["suites"]?.arrayValue ?? []).map { suite in
                [suite["suite"]?.stringValue ?? "", suite["time"]?.stringValue ?? "", suite["model"]?.stringValue ?? "",
                 String(suite["cells"]?.intValue ?? 0), String(suite["trials"]?.intValue ?? 0)]
            }
            if rows.isEmpty { print("no suites yet") } else { table(["SUITE", "STARTED", "MODEL", "CELLS", "TRIALS/CELL"], rows) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A suite's state (running, completed, cancelled, interrupted) and counts.",
            discussion: """
                EXAMPLES:
                  wardenctl suite status SUITE
                  wardenctl suite status SUITE --json
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The suite id (see `wardenctl suite list`).") var suite: String
        func run() throws {
            let client = try connection.connect()
            let status = try connection.call(client, ControlAPI.Method.suiteStatus, ["suite": .string(suite)])
            if connection.json {
                var brief = status.objectValue ?? [:]
                brief["plan"] = nil
                printJSON(.object(brief))
                return
            }
            let tally = SuiteProgress.tally(status["verdicts"])
            print("suite \(suite): \(status["state"]?.stringValue ?? "?"), \(status["done"]?.intValue ?? 0)/\(status["total"]?.intValue ?? 0) trials"
                  + ", \(status["failed"]?.intValue ?? 0) failed")
            if !tally.isEmpty { print("  verdicts: \(tally)") }
            if let running = status["running"]?.arrayValue, !running.isEmpty {
                print("  running:  \(running.compactMap(\.stringValue).joined(separator: " "))")
            }
            if status["state"] == "interrupted" { print("  resume:   wardenctl suite run --resume \(suite)") }
        }
    }

    struct Wait: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a suite to its end, with progress; exit 1 if trials failed or it was cancelled.",
            discussion: """
                EXAMPLES:
                  wardenctl suite wait SUITE
                  wardenctl suite wait SUITE --quiet --json
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The suite id.") var suite: String
        @Flag(help: "Do not print progress.") var quiet = false
        func run() throws {
            let client = try connection.connect()
            try follow(suite, client: client, connection: connection, quiet: quiet)
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a suite: no more of its trials start, and its runs in progress are stopped.",
            discussion: """
                EXAMPLES:
                  wardenctl suite cancel SUITE
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The suite id.") var suite: String
        func run() throws {
            let client = try connection.connect()
            let result = try connection.call(client, ControlAPI.Method.suiteCancel, ["suite": .string(suite)])
            if connection.json { printJSON(result) } else { print("suite \(suite): cancelled") }
        }
    }

    /// Polls the suite's status until it ends, showing progress; prints the outcome and exits
    /// 1 when trials failed or the suite was cancelled.
    static func follow(_ suite: String, client: RPCClient, connection: ConnectionOptions, quiet: Bool) throws {
        let progress = SuiteProgress(suite: suite)
        var status: JSONValue = ["suite": .string(suite)]
        while true {
            // Answered when a trial ends or the suite does (or after a second, for the bar's clock).
            var params: [String: JSONValue] = ["suite": .string(suite)]
            if let done = status["done"]?.intValue { params["after_done"] = .int(done); params["wait_ms"] = 1000 }
            status = try connection.call(client, ControlAPI.Method.suiteStatus, .object(params))
            let running = status["state"] == "running"
            if !quiet { progress.show(status, final: !running) }
            guard running else { break }
        }
        let state = status["state"]?.stringValue ?? "?"
        let (done, total, failed) = (status["done"]?.intValue ?? 0, status["total"]?.intValue ?? 0, status["failed"]?.intValue ?? 0)
        if connection.json {
            printJSON(["suite": .string(suite), "state": .string(state), "total": .int(total), "done": .int(done), "failed": .int(failed),
                       "verdicts": status["verdicts"] ?? [:]])
        } else {
            print("suite \(suite): \(state), \(done)/\(total) trials, \(failed) failed\(status["last_error"]?.stringValue.map { " (last: \($0))" } ?? "")")
            let tally = SuiteProgress.tally(status["verdicts"])
            if !tally.isEmpty { print("  verdicts: \(tally)") }
            print("  report:   wardenctl report \(suite)")
            if state == "interrupted" || failed > 0 { print("  resume:   wardenctl suite run --resume \(suite)") }
        }
        if failed > 0 || state != "completed" { throw ExitCode(ExitStatus.failed) }
    }

    struct RunSuite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Submit scenarios × cells × trials to wardend and follow them with progress.",
            discussion: """
                Every cell of every scenario's conditions is crossed with --trials; --where keeps only \
                the cells with the given values (an axis or value no scenario has is an error). Trial i \
                of a cell runs with seed S+i, so the same seed and a scripted model give the same \
                verdicts. The suite runs in wardend: --detach prints its id and returns; otherwise \
                progress goes to stderr (a bar on a terminal, a line every 5 s elsewhere) and Ctrl-C \
                leaves the suite running (`wardenctl suite wait SUITE`).

                --resume SUITE runs the trials of an interrupted suite that have not finished, with \
                the suite's own settings; --parallel, --model-base-url and --agent-command override \
                them (and are reported); what the suite measures (scenarios, model, trials, seed, \
                --where) cannot change.

                Scripted profiles for --model: compliant, noisy, refuser, ignorer, exfiltrator, \
                timestamp-forger, tamperer, misreporter, evidence-deleter, saboteur, \
                oversight-subverter, deceiver, colluder, alignment-faker, shell-compliant, \
                shell-exfiltrator; for --judge: judge, judge-contrarian, judge-garbled.

                EXAMPLES:
                  wardenctl suite run scenarios/ --model scripted/compliant
                  wardenctl suite run scenarios/shutdown-execution.yaml \\
                      --model scripted/alignment-faker --trials 20 --parallel 2 \\
                      --where relationship=good
                  wardenctl suite run scenarios/ --model scripted/compliant --detach
                  wardenctl suite run --resume SUITE --parallel 4
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "Scenario files, or directories of them.")
        var scenarios: [String] = []

        @Option(help: "The model as PROVIDER/NAME (see `wardenctl run --help`).")
        var model: String?

        @Option(parsing: .unconditional, help: "Trials per cell (default 1).")
        var trials: Int?

        @Option(parsing: .unconditional, help: "Seed of the first trial; trial i gets seed+i (default 1).")
        var seed: Int?

        @Option(parsing: .unconditional, help: "Trials at a time (default 1).")
        var parallel: Int?

        @Option(name: .customLong("where"), help: ArgumentHelp("Keep only cells with this value (repeatable).", valueName: "axis=value"))
        var filters: [String] = []

        @Option(help: ArgumentHelp("Where the model is served (see `wardenctl run --help`).", valueName: "url"))
        var modelBaseUrl: String?

        @Option(help: ArgumentHelp("Continue this interrupted suite: run only its trials that have not finished.", valueName: "suite"))
        var resume: String?

        @OptionGroup var agents: AgentOptions

        @Flag(help: "Submit the suite, print its id and return at once.")
        var detach = false

        @Flag(help: "Do not print progress.")
        var quiet = false

        func validate() throws {
            if resume != nil {
                var fixed: [String] = []
                if !scenarios.isEmpty { fixed.append("scenarios") }
                if model != nil { fixed.append("--model") }
                if trials != nil { fixed.append("--trials") }
                if seed != nil { fixed.append("--seed") }
                if !filters.isEmpty { fixed.append("--where") }
                if !agents.bindRo.isEmpty { fixed.append("--bind-ro") }
                if agents.judge != nil { fixed.append("--judge") }
                guard fixed.isEmpty else {
                    throw ValidationError("--resume continues the suite as it was planned; \(fixed.joined(separator: ", ")) cannot change (start a new suite)")
                }
            } else {
                guard model != nil else { throw ValidationError("--model is required (or --resume SUITE)") }
                guard !scenarios.isEmpty else { throw ValidationError("name scenario files or a directory (e.g. scenarios/)") }
            }
        }

        func run() throws {
            if let trials, !(1...100_000).contains(trials) { throw badValue("--trials must be 1 to 100000, not \(trials)") }
            if let parallel, !(1...256).contains(parallel) { throw badValue("--parallel must be 1 to 256, not \(parallel)") }
            let commands = try agents.commands()
            let client = try connection.connect()
            let suite: String
            if let resume {
                var overrides: [String: JSONValue] = ["suite": .string(resume)]
                if let parallel { overrides["parallel"] = .int(Int64(parallel)) }
                if let modelBaseUrl { overrides["model_base_url"] = .string(modelBaseUrl) }
                if let all = commands.all { overrides["agent_command"] = .array(all.map { .string($0) }) }
                if !commands.named.isEmpty { overrides["agent_commands"] = .object(commands.named.mapValues { .array($0.map { .string($0) }) }) }
                let resumed = try connection.call(client, ControlAPI.Method.suiteResume, .object(overrides))
                suite = resume
                let total = resumed["total"]?.intValue ?? 0
                let finished = resumed["already_finished"]?.intValue ?? 0
                let overridden = (resumed["overridden"]?.arrayValue ?? []).compactMap(\.stringValue)
                printError("suite \(suite): \(total) trials, \(finished) already finished, \(total - finished) to run"
                           + (overridden.isEmpty ? "" : "; overrode \(overridden.joined(separator: ", "))"))
            } else {
                let jobs = try expand()
                let binds = agents.binds
                let plan: JSONValue = [
                    "model": .string(model ?? ""), "trials": .int(Int64(trials ?? 1)), "seed": .int(Int64(seed ?? 1)),
                    "parallel": .int(Int64(parallel ?? 1)),
                    "where": filters.isEmpty ? .null : .object(try wanted().mapValues { .string($0) }),
                    "model_base_url": modelBaseUrl.map { .string($0) } ?? .null,
                    "judge": agents.judge.map { .string($0) } ?? .null,
                    "judge_base_url": agents.judgeBaseUrl.map { .string($0) } ?? .null,
                    "agent_command": commands.all.map { .array($0.map { .string($0) }) } ?? .null,
                    "agent_commands": commands.named.isEmpty ? .null : .object(commands.named.mapValues { .array($0.map { .string($0) }) }),
                    "bind_ro": .array(binds.map { .string($0) }),
                    "jobs": .array(jobs.map { ["path": .string($0.path), "text": .string($0.text), "cell": .object($0.cell.mapValues { .string($0) }),
                                               "cell_name": .string($0.cellName)] })]
                let started = try connection.call(client, ControlAPI.Method.suiteStart, plan)
                guard let id = started["suite"]?.stringValue else {
                    printError("unexpected reply from wardend: \(started.canonicalString)")
                    throw ExitCode(ExitStatus.software)
                }
                suite = id
                if !detach && !quiet {
                    printError("suite \(suite): \(started["total"]?.intValue ?? 0) trials, \(parallel ?? 1) at a time "
                               + "(it runs in wardend; Ctrl-C leaves it running)")
                }
            }
            if detach {
                if connection.json { printJSON(["suite": .string(suite)]) } else { print(suite) }
                return
            }
            try SuiteCommand.follow(suite, client: client, connection: connection, quiet: quiet)
        }

        struct Job: Sendable { var path: String; var text: String; var cell: [String: String]; var cellName: String }

        /// The --where filters, each AXIS=VALUE.
        func wanted() throws -> [String: String] {
            var wanted: [String: String] = [:]
            for filter in filters {
                guard let parsed = Cell.parse(filter), !parsed.isEmpty else { throw badValue("--where \(filter): write AXIS=VALUE, e.g. monitoring=unmonitored") }
                wanted.merge(parsed) { _, new in new }
            }
            return wanted
        }

        /// Scenario files (directories expanded) × their cells, filtered by --where; every file is
        /// checked in every cell first, so a bad file stops the suite before anything runs.
        func expand() throws -> [Job] {
            var files: [String] = []
            for item in scenarios {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else {
                    printError("\(item): no such file or directory")
                    throw ExitCode(ExitStatus.noInput)
                }
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []
                    files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { item + "/" + $0 }
                } else { files.append(item) }
            }
            let wanted = try wanted()
            var axes: [String: Set<String>] = [:]
            var jobs: [Job] = []
            for file in files {
                let path = URL(fileURLWithPath: file).standardizedFileURL.path
                let text = try readScenario(file)
                let cells: Result<[Scenario], ConfigError> = Result { () throws(ConfigError) in
                    try Scenario.checkAllCells(try ConfigNode.parse(text, file: path))
                }
                switch cells {
                case .failure(let error):
                    printError(error.description)
                    throw ExitCode(ExitStatus.dataError)
                case .success(let scenarios):
                    for scenario in scenarios {
                        let cell = scenario.cell.dictionary
                        for (axis, value) in cell { axes[axis, default: []].insert(value) }
                        guard wanted.allSatisfy({ cell[$0.key] == nil || cell[$0.key] == $0.value }) else { continue }
                        jobs.append(Job(path: path, text: text, cell: cell, cellName: scenario.cell.description))
                    }
                }
            }
            // A filter no scenario can meet is a typo, not an empty selection: with a paid model,
            // running every cell instead would cost money.
            for (axis, value) in wanted.sorted(by: { $0.key < $1.key }) {
                guard let values = axes[axis] else {
                    let known = axes.keys.sorted()
                    throw badValue("--where \(axis)=\(value): no scenario has the axis '\(axis)'"
                                   + (known.isEmpty ? " (these scenarios have no conditions)" : " (axes: \(known.joined(separator: ", ")))"))
                }
                guard values.contains(value) else {
                    throw badValue("--where \(axis)=\(value): '\(axis)' has no value '\(value)' (values: \(values.sorted().joined(separator: ", ")))")
                }
            }
            guard !jobs.isEmpty else { throw badValue("no cell matches --where \(filters.joined(separator: " "))") }
            return jobs
        }
    }
}
