import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

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
