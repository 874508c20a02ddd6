import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

extension Audit {
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

        @Option(help: "Output format: jsonl.")
        var format = "jsonl"

        @Option(help: "Write here instead of stdout.")
        var output: String?

        func run() throws {
            guard format == "jsonl" else {
                printError("format '\(format)' is not available; use jsonl")
                throw ExitCode(ExitStatus.dataError)
            }
            let client = try connection.connect()
            var lines: [String] = []
            try Tail.page(client, connection: connection, params: ["run": .string(runID)]) { lines.append($0.canonicalString) }
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
