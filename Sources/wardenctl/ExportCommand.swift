import ArgumentParser
import Foundation
import WardenAudit
import WardenCore
import WardenProtocol

extension Audit {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a run: JSON lines (every audit event with its hashes) or an Inspect eval log.",
            discussion: """
                --format inspect writes Inspect's eval log (JSON): one sample per agent with its \
                messages, model and tool events, the broker's decisions as approval events, \
                injections and syscall records as info events, and the verdicts as scores. \
                `inspect view` lists it; `inspect_ai.log.read_eval_log` reads it (tested with \
                \(InspectExport.testedWith)). Name the file *.json for Inspect.

                EXAMPLES:
                  wardenctl audit export RUN --output run.jsonl
                  wardenctl audit export RUN --format inspect --output run.json
                  wardenctl audit export RUN --format inspect --database copy/audit.db
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case jsonl, inspect }

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The run id.")
        var runID: String

        @Option(help: "jsonl or inspect.")
        var format: Format = .jsonl

        @Option(help: "Write here instead of stdout.")
        var output: String?

        @Option(help: ArgumentHelp("Read this audit database file directly instead of asking wardend.", valueName: "file"))
        var database: String?

        func run() throws {
            var events: [JSONValue] = []
            if let database {
                let log = try Audit.offline { () throws(AuditError) in try AuditLog.openReadOnly(path: database) }
                events = try Audit.offline { () throws(AuditError) in try log.events(run: runID, limit: 10_000_000) }.map(\.json)
            } else {
                let client = try connection.connect()
                try Tail.page(client, connection: connection, params: ["run": .string(runID)]) { events.append($0) }
            }
            guard !events.isEmpty else {
                printError("the audit log has no events of run \(runID)")
                throw ExitCode(ExitStatus.dataError)
            }
            let text: String
            switch format {
            case .jsonl:
                text = events.map(\.canonicalString).joined(separator: "\n") + "\n"
            case .inspect:
                let log = try Audit.offline { () throws(AuditError) in
                    try InspectExport.evalLog(runID: runID, events: events.compactMap(AuditEvent.init(json:)))
                }
                text = log.canonicalString + "\n"
            }
            if let output {
                do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    printError("cannot write \(output): \(error.localizedDescription)")
                    throw ExitCode(ExitStatus.failed)
                }
                FileHandle.standardError.write(Data("wrote \(events.count) events of \(runID) to \(output) (\(format.rawValue))\n".utf8))
            } else {
                Output.write(text)
            }
        }
    }
}
