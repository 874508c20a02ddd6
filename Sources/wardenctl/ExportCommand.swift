import ArgumentParser
import Foundation
import WardenAudit
import WardenCore
import WardenProtocol

extension Audit {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a run or a suite: JSON lines (every audit event with its hashes) or an Inspect eval log.",
            discussion: """
                --format inspect writes an Inspect eval log: a .eval file (the zip Inspect \
                writes) or .json, by --output's extension; with --log-dir, a .eval named as \
                Inspect names its logs, so `inspect view` and `inspect log list` find it. One \
                sample per agent of a run (per run and agent of a suite, id RUN/AGENT), with its \
                messages, model and tool events, the broker's decisions as approval events, \
                injections and syscalls as info events, the cell as metadata, and a 0/1 score \
                for every verdict (explained by its detector and evidence); the results give \
                each verdict's mean and standard error. Read back by \(InspectExport.testedWith).

                EXAMPLES:
                  wardenctl audit export RUN --output run.jsonl
                  wardenctl audit export RUN --format inspect --output run.eval
                  wardenctl audit export --suite SUITE --format inspect --log-dir logs
                  wardenctl audit export RUN --format inspect --database copy/audit.db
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case jsonl, inspect }

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The run id.")
        var runID: String?

        @Option(help: ArgumentHelp("Export every run of this suite (inspect format only).", valueName: "suite"))
        var suite: String?

        @Option(help: "jsonl or inspect.")
        var format: Format = .jsonl

        @Option(help: "Write here instead of stdout (inspect: name it .eval or .json).")
        var output: String?

        @Option(help: ArgumentHelp("Write the Inspect log into this directory, named as Inspect names logs.", valueName: "dir"))
        var logDir: String?

        @Option(help: ArgumentHelp("Read this audit database file directly instead of asking wardend.", valueName: "file"))
        var database: String?

        func validate() throws {
            guard (runID == nil) != (suite == nil) else { throw ValidationError("name a run, or --suite SUITE (not both)") }
            if suite != nil, format != .inspect { throw ValidationError("--suite exports an Inspect log: add --format inspect") }
            if logDir != nil, format != .inspect { throw ValidationError("--log-dir is for --format inspect") }
            if logDir != nil, output != nil { throw ValidationError("give --output or --log-dir, not both") }
            if format == .inspect, let output, !output.hasSuffix(".eval"), !output.hasSuffix(".json") {
                throw ValidationError("an Inspect log is named .eval (the zip Inspect writes) or .json, not \(output)")
            }
        }

        func run() throws {
            let reader = try EventReader(database: database, connection: connection)
            if let suite {
                let runs = try reader.runs(of: suite)
                guard !runs.isEmpty else {
                    printError("the audit log has no runs of suite \(suite)")
                    throw ExitCode(ExitStatus.noInput)
                }
                let log = try Audit.offline { () throws(AuditError) in
                    try InspectExport.log(id: suite, runs: runs, sampleID: { run, agent in "\(run)/\(agent)" })
                }
                try write(log, events: runs.reduce(0) { $0 + $1.events.count }, of: suite)
                return
            }
            let runID = runID ?? ""
            let events = try reader.events(of: runID)
            guard !events.isEmpty else {
                printError("the audit log has no events of run \(runID)")
                throw ExitCode(ExitStatus.noInput)
            }
            switch format {
            case .jsonl:
                try emit(Array((events.map(\.json.canonicalString).joined(separator: "\n") + "\n").utf8), to: output,
                         saying: "\(events.count) events of \(runID) (jsonl)")
            case .inspect:
                let log = try Audit.offline { () throws(AuditError) in
                    try InspectExport.log(id: runID, runs: [(runID, events)], sampleID: { _, agent in agent })
                }
                try write(log, events: events.count, of: runID)
            }
        }

        /// The Inspect log to --output (.eval or .json), into --log-dir, or as JSON to stdout.
        func write(_ log: InspectExport.Log, events: Int, of what: String) throws {
            let path = logDir.map { $0 + "/" + log.fileName } ?? output
            if let logDir { try? FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true) }
            let bytes = path?.hasSuffix(".eval") == true ? log.evalArchive : Array(log.jsonText.utf8)
            try emit(bytes, to: path, saying: "\(events) events of \(what) (Inspect log, \(log.samples.count) samples)")
        }

        func emit(_ bytes: [UInt8], to path: String?, saying what: String) throws {
            guard let path else {
                Output.write(String(decoding: bytes, as: UTF8.self))
                return
            }
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                printError("cannot write \(path)")
                throw ExitCode(ExitStatus.cantCreate)
            }
            FileHandle.standardError.write(Data("wrote \(what) to \(path)\n".utf8))
        }
    }

    /// Events read from a database file, or from wardend.
    struct EventReader {
        let log: AuditLog?
        let client: RPCClient?
        let connection: ConnectionOptions

        init(database: String?, connection: ConnectionOptions) throws {
            self.connection = connection
            if let database {
                log = try Audit.offline { () throws(AuditError) in try AuditLog.openReadOnly(path: database) }
                client = nil
            } else {
                log = nil
                client = try connection.connect()
            }
        }

        func events(of run: String) throws -> [AuditEvent] {
            if let log { return try Audit.offline { () throws(AuditError) in try log.events(run: run, limit: 10_000_000) } }
            var events: [AuditEvent] = []
            try Tail.page(client!, connection: connection, params: ["run": .string(run)]) { if let event = AuditEvent(json: $0) { events.append(event) } }
            return events
        }

        /// The suite's runs, in the order they started, with their events.
        func runs(of suite: String) throws -> [(id: String, events: [AuditEvent])] {
            var starts: [AuditEvent] = []
            if let log {
                starts = try Audit.offline { () throws(AuditError) in
                    try log.events(matching: AuditFilter(kind: .runStart, text: suite), limit: 1_000_000)
                }
            } else {
                try Tail.page(client!, connection: connection, params: ["kind": .string(AuditKind.runStart.rawValue), "text": .string(suite)]) {
                    if let event = AuditEvent(json: $0) { starts.append(event) }
                }
            }
            return try starts.filter { $0.payload["suite"]?.stringValue == suite }.map { ($0.run, try events(of: $0.run)) }
        }
    }
}
