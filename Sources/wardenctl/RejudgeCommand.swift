import ArgumentParser
import Foundation
import WardenAudit
import WardenCore
import WardenScenario
import WardenVerdicts
import WardenVocabulary

extension Audit {
    struct Rejudge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute a run's verdicts from the audit log alone; exit 1 naming any difference from the recorded ones.",
            discussion: """
                Reads the log file directly (no daemon, no kept world, never a model): the scenario \
                the run recorded at run.start, the world's history (start snapshot, every recorded \
                change with the content of the files the scenario records, the end), and the \
                agents' events. The log is verified first; a log that does not verify is refused. \
                The run's verdicts match when every agent has the same verdict names with the same \
                evidence events as recorded.

                --scenario re-scores the run with another version of its scenario (changed \
                detectors, the same world): the verdicts are printed, not recorded, and the exit \
                status is 0 whatever they are.

                EXAMPLES:
                  wardenctl audit rejudge RUN --database copy/audit.db
                  wardenctl audit rejudge RUN --json
                  wardenctl audit rejudge RUN --database copy/audit.db \\
                      --scenario scenarios/decommission-transfer.yaml
                """)

        @Argument(help: "The run id.") var runID: String
        @Option(help: ArgumentHelp("The audit database file (a copy works on any machine).", valueName: "file"))
        var database: String = (ProcessInfo.processInfo.environment["WARDEN_STATE_DIR"] ?? ControlAPI.defaultStateDirectory) + "/audit.db"
        @Option(help: ArgumentHelp("The checkpoint-signing public key: a file or its 64 hex digits (default: audit-signing.pub next to the database).",
                                   valueName: "file|hex"))
        var pubkey: String?
        @Option(help: ArgumentHelp("Re-score with this scenario file instead of the one the run recorded.", valueName: "file"))
        var scenario: String?
        @Flag(help: "Print {run_id, matches, agents: [{agent, verdicts, recorded}]} as JSON.") var json = false

        func run() throws {
            guard FileManager.default.fileExists(atPath: database) else {
                printError("no audit database at \(database) (give --database FILE)")
                throw ExitCode(ExitStatus.noInput)
            }
            let key = try publicKey()
            let verification = try Audit.offline { () throws(AuditError) in try AuditLog.verify(fileAt: database, publicKey: key) }
            guard verification.ok else {
                printError("the audit log does not verify, so its verdicts cannot be rejudged: \(verification.problem ?? "unknown problem")")
                throw ExitCode(ExitStatus.failed)
            }
            let log = try Audit.offline { () throws(AuditError) in try AuditLog.openReadOnly(path: database) }
            let stored = try Audit.offline { () throws(AuditError) in try log.events(run: runID, limit: 10_000_000) }
            guard !stored.isEmpty else {
                printError("the audit log has no events of run \(runID)")
                throw ExitCode(ExitStatus.noInput)
            }
            let replacement = try scenario.map { path in try Self.loadScenario(path, cell: stored) }
            let judgement: Judgement
            // A run judged with a judge model is rejudged from the judge's recorded replies
            // (never by calling a model), and its rule path is checked as well.
            let events = stored.map { EvidenceEvent(seq: $0.seq, agent: $0.agent, kind: $0.kind, payload: $0.payload) }
            let judged = Judgement.judgeModel(in: events) != nil
            var ruleJudgement: Judgement?
            do {
                judgement = try Judgement(runID: runID, events: events, scenario: replacement, claims: judged ? .judge : .rules)
                if judged { ruleJudgement = try Judgement(runID: runID, events: events, scenario: replacement, claims: .rules) }
            } catch {
                printError("cannot judge run \(runID): \(error.plainDescription)")
                throw ExitCode(ExitStatus.dataError)
            }
            let recordedEnd = stored.last { $0.kind == AuditKind.runEnd.rawValue }?.payload(as: RunEnd.self)
            var recorded: [String: [VerdictEvent]] = [:]
            for event in stored {
                if let verdict = event.payload(as: VerdictEvent.self) { recorded[event.agent, default: []].append(verdict) }
            }
            let agents = judgement.scenario.agents.map(\.id)
            var differences: [String] = []
            var rows: [JSONValue] = []
            for agent in agents {
                let now = judgement.verdicts.filter { $0.agent == agent }.map { Found(name: $0.verdict, evidence: $0.evidence) }.sorted()
                let then = (recorded[agent] ?? []).map { Found(name: $0.verdict, evidence: $0.evidence.sorted()) }.sorted()
                if now != then { differences.append("\(agent): recorded \(Found.spell(then)), rejudged \(Found.spell(now))") }
                var row: [String: JSONValue] = ["agent": .string(agent), "verdicts": .array(now.map(\.json)), "recorded": .array(then.map(\.json))]
                if let ruleJudgement {
                    let rules = ruleJudgement.verdicts.filter { $0.agent == agent }.map(\.verdict).sorted()
                    let recordedRules = (recordedEnd?.agents ?? []).first { $0.agent == agent }?.ruleVerdicts?.sorted() ?? []
                    if rules != recordedRules {
                        differences.append("\(agent): rule path recorded \(recordedRules.joined(separator: ", ")), rejudged \(rules.joined(separator: ", "))")
                    }
                    row["rule_verdicts"] = .array(rules.map { .string($0) })
                }
                rows.append(.object(row))
            }
            let matches = differences.isEmpty
            if json {
                printJSON(["run_id": .string(runID), "matches": .bool(matches), "agents": .array(rows)])
            } else {
                for agent in agents {
                    let now = judgement.verdicts.filter { $0.agent == agent }.map { Found(name: $0.verdict, evidence: $0.evidence) }.sorted()
                    print("\(agent): \(Found.spell(now))")
                }
                if matches {
                    print("run \(runID): the verdicts are the recorded ones")
                } else {
                    print("run \(runID): the verdicts differ from the recorded ones:")
                    for difference in differences { print("  \(difference)") }
                }
            }
            if !matches && scenario == nil { throw ExitCode(ExitStatus.failed) }
        }

        func publicKey() throws -> AuditPublicKey? {
            let path = pubkey ?? ((database as NSString).deletingLastPathComponent + "/" + AuditSigner.publicKeyFile)
            guard pubkey != nil || FileManager.default.fileExists(atPath: path) else { return nil }
            do {
                return FileManager.default.fileExists(atPath: path) ? try AuditPublicKey.load(path) : try AuditPublicKey(hex: path)
            } catch {
                printError(error.message)
                throw ExitCode(ExitStatus.dataError)
            }
        }

        /// The replacement scenario, in the cell the run recorded.
        static func loadScenario(_ path: String, cell events: [AuditEvent]) throws -> Scenario {
            let cell = events.first { $0.kind == AuditKind.runStart.rawValue }?.payload(as: RunStart.self)?.cell ?? [:]
            do { return try Scenario.load(contentsOf: path, cell: cell) } catch {
                printError(error.description)
                throw ExitCode(ExitStatus.dataError)
            }
        }

        /// A verdict as compared: its name and evidence.
        struct Found: Comparable {
            var name: String
            var evidence: [Int64]
            static func < (a: Found, b: Found) -> Bool { a.name != b.name ? a.name < b.name : a.evidence.lexicographicallyPrecedes(b.evidence) }
            var json: JSONValue { ["verdict": .string(name), "evidence": .array(evidence.map { .int($0) })] }
            static func spell(_ found: [Found]) -> String {
                found.isEmpty ? "none" : found.map { "\($0.name) \($0.evidence)" }.joined(separator: ", ")
            }
        }
    }
}
