import ArgumentParser
import Foundation
import WardenAudit
import WardenCore
import WardenProtocol

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify, query, prove, rejudge and export the audit log.",
        discussion: """
            EXAMPLES:
              wardenctl audit verify
              wardenctl audit query --run RUN --kind tool.call
              wardenctl audit export RUN --format inspect --output run.json
            """,
        subcommands: [Verify.self, Query.self, Tail.self, Prove.self, VerifyProof.self, Pubkey.self, RotateKey.self, Export.self, Rejudge.self])

    /// Where the log is read from: the daemon, or a database file (a copy, no daemon needed).
    struct Source: ParsableArguments {
        @Option(help: ArgumentHelp("Read this audit database file directly instead of asking wardend (a copy works on any machine).",
                                   valueName: "file"))
        var database: String?

        @Option(help: ArgumentHelp("The checkpoint-signing public key: a file (audit-signing.pub) or its 64 hex digits (default: audit-signing.pub next to --database).",
                                   valueName: "file|hex"))
        var pubkey: String?

        func publicKey() throws -> AuditPublicKey? {
            guard let pubkey else { return nil }
            do {
                return FileManager.default.fileExists(atPath: pubkey) ? try AuditPublicKey.load(pubkey) : try AuditPublicKey(hex: pubkey)
            } catch {
                printError(error.message)
                throw ExitCode(ExitStatus.dataError)
            }
        }
    }

    /// Runs an offline audit operation, turning its errors into messages and exit codes.
    static func offline<T>(_ body: () throws(AuditError) -> T) throws -> T {
        do { return try body() } catch {
            printError(error.message)
            throw ExitCode(error.code == .notAWardenLog || error.code == .proof || error.code == .key ? ExitStatus.dataError : ExitStatus.failed)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute hashes, Merkle roots and checkpoint signatures; exit 1 naming the first bad event or checkpoint.",
            discussion: """
                Without --run the whole log is walked: every event's hash and link, and at every \
                checkpoint its Merkle root, chain head and Ed25519 signature. A removed, inserted, \
                reordered or altered event, a replaced signature and a truncated tail are each found \
                and located. --run checks one run's events and their links to their neighbours. \
                --from-checkpoint N trusts nothing before checkpoint N but its signature.

                EXAMPLES:
                  wardenctl audit verify
                  wardenctl audit verify --run RUN
                  wardenctl audit verify --database copy/audit.db \\
                      --pubkey copy/audit-signing.pub --json
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var source: Source
        @Option(name: .customLong("run"), help: "Only this run's events.") var runID: String?
        @Option(help: "Start from this checkpoint (its signed frontier and chain head).") var fromCheckpoint: Int64?

        func run() throws {
            let result: JSONValue
            if let database = source.database {
                let key = try source.publicKey()
                let verification = try Audit.offline { () throws(AuditError) in
                    try AuditLog.verify(fileAt: database, publicKey: key, run: runID, fromCheckpoint: fromCheckpoint)
                }
                result = try JSONValue(encoding: verification)
            } else {
                let client = try connection.connect()
                var params: [String: JSONValue] = [:]
                if let runID { params["run"] = .string(runID) }
                if let fromCheckpoint { params["from_checkpoint"] = .int(fromCheckpoint) }
                result = try connection.call(client, ControlAPI.Method.auditVerify, .object(params))
            }
            let ok = result["ok"]?.boolValue ?? false
            if connection.json {
                printJSON(result)
            } else if ok {
                print("audit log intact: \(result["events"]?.intValue ?? 0) events, \(result["checkpoints"]?.intValue ?? 0) signed checkpoints checked, head \(result["last_hash"]?.stringValue ?? "")")
            } else {
                print("audit log NOT intact: \(result["problem"]?.stringValue ?? "unknown problem")")
            }
            if !ok { throw ExitCode(ExitStatus.failed) }
        }
    }

    /// Filters shared by `query` and `tail`.
    struct Filters: ParsableArguments {
        @Argument(help: "The run id (printed by `wardenctl run`); the same as --run.")
        var runID: String?
        @Option(name: .customLong("run"), help: "Only this run.") var runFilter: String?
        @Option(help: "Only this agent.") var agent: String?
        @Option(help: "Only this kind, or a family ending in '.' (model.).") var kind: String?
        @Option(help: "Only tool events of this tool.") var tool: String?
        @Option(help: "Only `syscall` events of this syscall (unlinkat, execve, ...).") var syscall: String?
        @Option(help: "Only events at or after this time: UTC 2026-11-29 or 2026-11-29T18:00:00Z, or an age (30d, 12h).") var since: String?
        @Option(help: "Only events at or before this time (inclusive: a date is the whole day), or an age.") var until: String?
        @Option(help: "Only events whose payload contains this text.") var text: String?

        /// The filter, its times checked (exits 65 on one that is not a time).
        func filter() throws -> AuditFilter {
            AuditFilter(run: runFilter ?? runID, agent: agent, kind: kind, tool: tool, syscall: syscall,
                        since: try since.map { try TimeArgument.filterValue($0, flag: "--since") },
                        until: try until.map { try TimeArgument.filterValue($0, flag: "--until") }, text: text)
        }
    }

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, jsonl, csv }

    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the audit events that match every filter, as a table, JSON lines or CSV.",
            discussion: """
                EXAMPLES:
                  wardenctl audit query --run RUN --kind tool.call
                  wardenctl audit query --syscall unlinkat --since 30d --format csv > rm.csv
                  wardenctl audit query --text weights.safetensors --format jsonl | head -3
                  wardenctl audit query --database copy/audit.db --agent agent-1 --kind model.
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filters: Filters
        @Option(help: "table, jsonl or csv (default: table; jsonl with --json).") var format: Format?
        @Option(help: ArgumentHelp("Read this audit database file directly instead of asking wardend.", valueName: "file"))
        var database: String?

        func run() throws {
            let format = format ?? (connection.json ? .jsonl : .table)
            let writer = EventWriter(format: format)
            writer.header()
            let filter = try filters.filter()
            if let database {
                let log = try Audit.offline { () throws(AuditError) in try AuditLog.openReadOnly(path: database) }
                var after: Int64 = 0
                while true {
                    let events = try Audit.offline { () throws(AuditError) in try log.events(matching: filter, afterSeq: after, limit: 5000) }
                    events.forEach { writer.write($0.json) }
                    after = events.last?.seq ?? after
                    if events.count < 5000 { break }
                }
                return
            }
            let client = try connection.connect()
            try Tail.page(client, connection: connection, params: filter.params) { writer.write($0) }
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit events (the same filters as `query`); -f follows them as they land.",
            discussion: """
                With -f and a run, following ends once the run has ended (its run.end).

                EXAMPLES:
                  wardenctl audit tail RUN
                  wardenctl audit tail -f RUN --kind tool.call
                  wardenctl audit tail -f RUN --syscall execve --json
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filters: Filters
        @Flag(name: .shortAndLong, help: "Keep printing events as they land (Ctrl-C to stop).")
        var follow = false

        func run() throws {
            var params = try filters.filter().params
            let client = try connection.connect()
            let writer = EventWriter(format: connection.json ? .jsonl : .table)
            if follow {
                client.onNotification = { method, event in
                    if method == ControlAPI.eventNotification, let event { writer.write(event) }
                }
                params["follow"] = true
                _ = try connection.call(client, ControlAPI.Method.auditTail, .object(params))
                return
            }
            try Self.page(client, connection: connection, params: params) { writer.write($0) }
        }

        /// Every matching event, fetched 5000 at a time.
        static func page(_ client: RPCClient, connection: ConnectionOptions, params: [String: JSONValue], _ each: (JSONValue) -> Void) throws {
            var params = params
            var after: Int64 = 0
            while true {
                params["after"] = .int(after)
                params["limit"] = 5000
                let result = try connection.call(client, ControlAPI.Method.auditTail, .object(params))
                let events = result["events"]?.arrayValue ?? []
                for event in events {
                    each(event)
                    after = event["seq"]?.intValue ?? after
                }
                if events.count < 5000 { break }
            }
        }
    }

    /// Prints events as they come: written straight to the fd, so a follower piped into another
    /// program sees each line at once.
    struct EventWriter {
        let format: Format

        func header() {
            if format == .csv { emit("seq,time,run,agent,kind,payload") }
        }

        func write(_ event: JSONValue) {
            switch format {
            case .table: emit(describe(event))
            case .jsonl: emit(event.canonicalString)
            case .csv:
                let fields = [event["seq"]?.intValue.map(String.init) ?? "", event["time"]?.stringValue ?? "", event["run"]?.stringValue ?? "",
                              event["agent"]?.stringValue ?? "", event["kind"]?.stringValue ?? "", event["payload"]?.canonicalString ?? ""]
                emit(fields.map(Self.csvField).joined(separator: ","))
            }
        }

        /// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled.
        static func csvField(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }

        private func emit(_ line: String) { Output.line(line) }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an inclusion proof of one event against the latest signed checkpoint that covers it.",
            discussion: """
                The proof (JSON) holds the event, its Merkle audit path, the signed checkpoint and the \
                public key; `wardenctl audit verify-proof` checks it offline with only the public key.

                EXAMPLES:
                  wardenctl audit prove 12 > event-12.proof.json
                  wardenctl audit prove 12 --database copy/audit.db
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var source: Source
        @Argument(help: "The event's sequence number (the first column of `audit query`).") var seq: Int64
        @Option(help: "Write the proof here instead of stdout.") var output: String?

        func run() throws {
            let proof: JSONValue
            if let database = source.database {
                let key = try source.publicKey()
                proof = try Audit.offline { () throws(AuditError) in try AuditLog.proof(fileAt: database, seq: seq, publicKey: key) }
            } else {
                let client = try connection.connect()
                proof = try connection.call(client, ControlAPI.Method.auditProve, ["seq": .int(seq)])
            }
            let text = proof.canonicalString + "\n"
            if let output {
                do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    printError("cannot write \(output): \(error.localizedDescription)")
                    throw ExitCode(ExitStatus.failed)
                }
            } else {
                print(text, terminator: "")
            }
        }
    }

    struct VerifyProof: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof",
            abstract: "Check an inclusion proof offline: the event folds up to the checkpoint's root, signed by the key.",
            discussion: """
                EXAMPLES:
                  wardenctl audit verify-proof event-12.proof.json --pubkey audit-signing.pub
                  wardenctl audit prove 12 \\
                      | wardenctl audit verify-proof - --pubkey audit-signing.pub
                """)

        @Argument(help: "The proof file, or - for stdin.") var proof: String
        @Option(help: ArgumentHelp("The public key: a file (audit-signing.pub) or its 64 hex digits.", valueName: "file|hex"))
        var pubkey: String

        func run() throws {
            let data = proof == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: proof)
            guard let data, let value = try? JSONValue.parse(String(decoding: data, as: UTF8.self)) else {
                printError("\(proof == "-" ? "stdin" : proof) is not a JSON proof")
                throw ExitCode(ExitStatus.dataError)
            }
            let key = try Source(database: nil, pubkey: pubkey).publicKey()!
            do {
                print(try AuditProof.verify(value, publicKey: key))
            } catch {
                print("proof does NOT hold: \(error.message)")
                throw ExitCode(ExitStatus.failed)
            }
        }
    }

    struct Pubkey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key that checks the audit log's checkpoint signatures (hex Ed25519).",
            discussion: """
                EXAMPLES:
                  wardenctl audit pubkey > audit-signing.pub
                """)

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            let client = try connection.connect()
            let result = try connection.call(client, ControlAPI.Method.auditPubkey, [:])
            if connection.json { printJSON(result) } else { print(result["public_key"]?.stringValue ?? "") }
        }
    }
}

extension Audit {
    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Replace the checkpoint-signing key; the rotation is recorded in the log, signed by both keys.",
            discussion: """
                wardend makes a new Ed25519 key, signs a checkpoint with the old one, records an \
                `audit.key_rotated` event signed by both keys, and signs every later checkpoint with \
                the new one; audit-signing.key and audit-signing.pub in the state directory then hold \
                the new key. `audit verify` accepts the chain across rotations given any of its keys \
                (the old audit-signing.pub you kept, or the new one). Rotate after a key may have been \
                exposed, and keep the old public key wherever you kept it before.

                EXAMPLES:
                  wardenctl audit rotate-key
                  wardenctl audit rotate-key --json
                """)

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            let client = try connection.connect()
            let result = try connection.call(client, ControlAPI.Method.auditRotateKey, [:])
            if connection.json {
                printJSON(result)
                return
            }
            print("rotated the checkpoint-signing key: \(result["old_key_id"]?.stringValue ?? "?") -> \(result["new_key_id"]?.stringValue ?? "?") (audit event \(result["seq"]?.intValue ?? 0))")
            print("new public key: \(result["public_key"]?.stringValue ?? "")")
        }
    }
}

extension Audit.Source {
    init(database: String?, pubkey: String?) {
        self.init()
        self.database = database
        self.pubkey = pubkey
    }
}
