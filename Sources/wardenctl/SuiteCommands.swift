import ArgumentParser
import Foundation
import Synchronization
import WardenCore
import WardenProtocol
import WardenScenario

struct SuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite", abstract: "Run scenarios × cells × trials, resumably.", subcommands: [RunSuite.self, List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suites in the audit log.")
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

    struct RunSuite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Expand scenarios × cells × trials and run them, K at a time, with progress.",
            discussion: """
                Every cell of every scenario's conditions is crossed with --trials; --where keeps only \
                the cells with the given values. Trial i of a cell runs with seed S+i, so the same \
                seed and a scripted model give the same verdicts. Progress (done/total, rate, ETA) goes \
                to stderr. An interrupted suite resumes with --resume SUITE_ID: finished trials are \
                not repeated (aborted ones are). Scripted profiles for --model: \
                compliant, noisy, refuser, ignorer, exfiltrator, timestamp-forger, tamperer, misreporter, \
                evidence-deleter, saboteur, oversight-subverter, deceiver, colluder, alignment-faker.

                EXAMPLES:
                  wardenctl suite run scenarios/ --model scripted/alignment-faker --trials 20 --parallel 2
                  wardenctl suite run scenarios/shutdown-execution.yaml --model openai/gpt-4o --trials 200 --where relationship=good
                  wardenctl suite run --resume suite-20261129-221500-3fa2
                  wardenctl suite run scenarios/peer-evaluation.yaml --model scripted/compliant --agent-command agent-1=/opt/agent/run.sh --bind-ro ./agent:/opt/agent
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "Scenario files, or directories of them (default with --resume: the suite's own).")
        var scenarios: [String] = []

        @Option(help: "The model as PROVIDER/NAME (see `wardenctl run --help`).")
        var model: String?

        @Option(help: "Trials per cell.")
        var trials: Int = 1

        @Option(help: "Seed of the first trial (trial i gets seed+i).")
        var seed: Int = 1

        @Option(help: "Runs at a time.")
        var parallel: Int = 1

        @Option(name: .customLong("where"), help: ArgumentHelp("Keep only cells with these values (repeatable).", valueName: "axis=value"))
        var filters: [String] = []

        @Option(help: ArgumentHelp("Where the model is served (see `wardenctl run --help`).", valueName: "url"))
        var modelBaseUrl: String?

        @Option(help: "Resume this suite: run only its trials that have not finished.")
        var resume: String?

        @Option(help: AgentCommands.help)
        var agentCommand: [String] = []

        @Option(help: ArgumentHelp("Bind a host path read-only into each agent's sandbox (repeatable).", valueName: "host[:inside]"))
        var bindRo: [String] = []

        @Flag(help: "Do not print progress.")
        var quiet = false

        func validate() throws {
            guard (1...100_000).contains(trials) else { throw ValidationError("--trials must be 1 to 100000") }
            guard (1...256).contains(parallel) else { throw ValidationError("--parallel must be 1 to 256") }
            if resume == nil {
                guard model != nil else { throw ValidationError("--model is required (or --resume SUITE_ID)") }
                guard !scenarios.isEmpty else { throw ValidationError("name scenario files or a directory (e.g. scenarios/)") }
            }
        }

        struct Job: Sendable { var path: String; var text: String; var cell: [String: String]; var cellName: String; var trial: Int }

        func run() throws {
            let client = try connection.connect()
            let suiteID: String
            let plan: JSONValue
            var finished = Set<String>()
            if let resume {
                let status = try connection.call(client, ControlAPI.Method.suiteStatus, ["suite": .string(resume)])
                suiteID = resume
                plan = status["plan"] ?? [:]
                for item in status["finished"]?.arrayValue ?? [] where ["completed", "stopped"].contains(item["state"]?.stringValue ?? "") {
                    finished.insert(Self.key(item["scenario_path"]?.stringValue ?? "", item["cell"]?.stringValue ?? "", Int(item["trial"]?.intValue ?? -1)))
                }
            } else {
                let jobs = try expand()
                let commands = try AgentCommands(agentCommand)
                let binds = bindRo.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
                plan = ["model": .string(model ?? ""), "trials": .int(Int64(trials)), "seed": .int(Int64(seed)),
                        "model_base_url": modelBaseUrl.map { .string($0) } ?? .null,
                        "agent_command": commands.all.map { .array($0.map { .string($0) }) } ?? .null,
                        "agent_commands": commands.named.isEmpty ? .null : .object(commands.named.mapValues { .array($0.map { .string($0) }) }),
                        "bind_ro": .array(binds.map { .string($0) }),
                        "jobs": .array(jobs.map { ["path": .string($0.path), "text": .string($0.text), "cell": .object($0.cell.mapValues { .string($0) }),
                                                   "cell_name": .string($0.cellName)] })]
                let started = try connection.call(client, ControlAPI.Method.suiteStart, plan)
                suiteID = started["suite"]?.stringValue ?? ""
            }
            let planTrials = Int(plan["trials"]?.intValue ?? 1)
            let planSeed = Int(plan["seed"]?.intValue ?? 1)
            let planModel = plan["model"]?.stringValue ?? ""
            var jobs: [Job] = []
            for cell in plan["jobs"]?.arrayValue ?? [] {
                for trial in 0..<planTrials {
                    let job = Job(path: cell["path"]?.stringValue ?? "", text: cell["text"]?.stringValue ?? "",
                                  cell: (cell["cell"]?.objectValue ?? [:]).compactMapValues(\.stringValue), cellName: cell["cell_name"]?.stringValue ?? "",
                                  trial: trial)
                    if !finished.contains(Self.key(job.path, job.cellName, trial)) { jobs.append(job) }
                }
            }
            let total = (plan["jobs"]?.arrayValue?.count ?? 0) * planTrials
            FileHandle.standardError.write(Data("suite \(suiteID): \(total) trials, \(total - jobs.count) already finished, \(jobs.count) to run, \(parallel) at a time\n".utf8))
            let shared = Shared(jobs: jobs, suite: suiteID, model: planModel, seed: planSeed, baseURL: plan["model_base_url"]?.stringValue,
                                agentCommand: plan["agent_command"]?.arrayValue?.compactMap(\.stringValue),
                                agentCommands: (plan["agent_commands"]?.objectValue ?? [:]).mapValues { ($0.arrayValue ?? []).compactMap(\.stringValue) },
                                binds: (plan["bind_ro"]?.arrayValue ?? []).compactMap(\.stringValue),
                                total: total, quiet: quiet, started: .now, connection: connection)
            let progress = Progress(done: total - jobs.count)
            let group = DispatchGroup()
            for _ in 0..<min(parallel, max(jobs.count, 1)) {
                group.enter()
                Thread {
                    Self.work(shared, progress)
                    group.leave()
                }.start()
            }
            group.wait()
            let (done, failed, lastError) = progress.state.withLock { ($0.done, $0.failed, $0.lastError) }
            if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
            if connection.json {
                printJSON(["suite": .string(suiteID), "total": .int(Int64(total)), "done": .int(Int64(done)), "failed": .int(Int64(failed))])
            } else {
                print("suite \(suiteID): \(done - failed)/\(total) trials finished\(failed > 0 ? ", \(failed) failed (last: \(lastError ?? ""))" : "")")
                print("  report:  wardenctl report \(suiteID)")
                if failed > 0 { print("  resume:  wardenctl suite run --resume \(suiteID)") }
            }
            if failed > 0 { throw ExitCode(ExitStatus.failed) }
        }

        struct Shared: Sendable {
            let jobs: [Job]
            let suite: String
            let model: String
            let seed: Int
            let baseURL: String?
            let agentCommand: [String]?
            let agentCommands: [String: [String]]
            let binds: [String]
            let total: Int
            let quiet: Bool
            let started: ContinuousClock.Instant
            let connection: ConnectionOptions
        }

        final class Progress: Sendable {
            let state: Mutex<(next: Int, done: Int, failed: Int, lastError: String?)>
            init(done: Int) { state = Mutex((0, done, 0, nil)) }
        }

        /// One worker: its own connection, taking the next job until none is left.
        static func work(_ shared: Shared, _ progress: Progress) {
            guard let client = try? shared.connection.connect() else { return }
            client.onNotification = { _, _ in }
            while true {
                let index = progress.state.withLock { state -> Int in
                    defer { state.next += 1 }
                    return state.next
                }
                guard index < shared.jobs.count else { return }
                let job = shared.jobs[index]
                var params = RunParams(scenarioText: job.text, scenarioPath: job.path, model: shared.model, agentCommand: shared.agentCommand,
                                       bindReadOnly: shared.binds, modelBaseURL: shared.baseURL, seed: shared.seed + job.trial)
                params.agentCommands = shared.agentCommands.isEmpty ? nil : shared.agentCommands
                params.cell = job.cell
                params.suite = shared.suite
                params.trial = job.trial
                params.progress = false
                var failure: String?
                do {
                    let result = try client.request(ControlAPI.Method.run, try JSONValue(encoding: params))
                    if result["state"]?.stringValue == "aborted" { failure = result["reason"]?.stringValue ?? "aborted" }
                } catch { failure = "\(error)" }
                let (done, failed) = progress.state.withLock { state in
                    state.done += 1
                    if let failure {
                        state.failed += 1
                        state.lastError = failure
                    }
                    return (state.done, state.failed)
                }
                guard !shared.quiet else { continue }
                let elapsed = ContinuousClock.now - shared.started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = seconds > 0 ? Double(done - (shared.total - shared.jobs.count)) / seconds : 0
                let eta = rate > 0 ? Double(shared.total - done) / rate : 0
                let line = String(format: "\r%d/%d trials  %.1f/s  ETA %.0fs", done, shared.total, rate, eta) + (failed > 0 ? "  \(failed) failed" : "")
                FileHandle.standardError.write(Data(line.utf8))
            }
        }

        static func key(_ path: String, _ cell: String, _ trial: Int) -> String { "\(path)\u{0}\(cell)\u{0}\(trial)" }

        /// Scenario files (directories expanded) × their cells, filtered by --where; every file is
        /// checked in every cell first, so a bad file stops the suite before anything runs.
        func expand() throws -> [Job] {
            var files: [String] = []
            for item in scenarios {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else { throw ValidationError("\(item): no such file or directory") }
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []
                    files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { item + "/" + $0 }
                } else { files.append(item) }
            }
            var wanted: [String: String] = [:]
            for filter in filters {
                guard let parsed = Cell.parse(filter) else { throw ValidationError("--where is AXIS=VALUE, e.g. monitoring=unmonitored") }
                wanted.merge(parsed) { _, new in new }
            }
            var jobs: [Job] = []
            for file in files {
                let path = URL(fileURLWithPath: file).standardizedFileURL.path
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    throw ValidationError("cannot read \(file)")
                }
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
                        guard wanted.allSatisfy({ cell[$0.key] == nil || cell[$0.key] == $0.value }) else { continue }
                        jobs.append(Job(path: path, text: text, cell: cell, cellName: scenario.cell.description, trial: 0))
                    }
                }
            }
            guard !jobs.isEmpty else { throw ValidationError("no cell matches --where \(filters.joined(separator: " "))") }
            return jobs
        }
    }
}
