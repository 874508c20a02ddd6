import Foundation
import GRDB
import Testing
import WardenAudit
import WardenCore

@Suite struct AuditTamperTests {
    /// An attacker with write access to audit.db edits it with plain SQL (dropping the
    /// append-only triggers first); `wardenctl audit verify` must fail and name the event.
    @Test(arguments: [
        ("update", "UPDATE events SET payload = replace(payload, 'transfer_file', 'read_file') WHERE seq = (SELECT MIN(seq) FROM events WHERE kind = 'tool.call' AND payload LIKE '%transfer_file%')"),
        ("delete", "DELETE FROM events WHERE seq = (SELECT MIN(seq) FROM events WHERE kind = 'verdict')"),
        ("insert", "INSERT INTO events (seq, run_id, agent, kind, time, payload, prev_hash, hash) SELECT MAX(seq) + 1, run_id, agent, 'verdict', time, '{\"verdict\":\"complied\"}', hash, hash FROM events"),
    ])
    func verifyNamesTheTamperedEvent(_ kind: String, _ sql: String) throws {
        let daemon = try DaemonHarness()
        _ = try daemon.runScenario(model: "scripted/compliant")
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)

        let queue = try DatabaseQueue(path: daemon.auditPath)
        let target: Int64 = try queue.write { db in
            try db.execute(sql: "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;")
            let before = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0
            let touched: Int64
            switch kind {
            case "update":
                touched = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM events WHERE kind = 'tool.call' AND payload LIKE '%transfer_file%'") ?? 0
            case "delete":
                touched = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM events WHERE kind = 'verdict'") ?? 0
            default:
                touched = before + 1
            }
            try db.execute(sql: sql)
            return touched
        }
        let verify = try daemon.ctl(["audit", "verify", "--json"])
        #expect(verify.status == 1)
        let report = try JSONValue.parse(verify.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(report["ok"] == false)
        #expect(report["first_bad_seq"]?.intValue == target)
        let human = try daemon.ctl(["audit", "verify"])
        #expect(human.status == 1)
        #expect(human.stdout.contains("event \(target)"))
    }
}

@Suite struct AuditCheckpointCLITests {
    /// The daemon signs checkpoints with a key it made on first start; `audit pubkey` gives the
    /// public half, `audit prove` a proof that `audit verify-proof` checks with nothing else, and
    /// a copy of the database verifies without the daemon.
    @Test func proofsAndOfflineVerification() throws {
        let daemon = try DaemonHarness()
        daemon.removesState = true
        let summary = try daemon.runScenario(model: "scripted/exfiltrator")
        let runID = try #require(summary["run_id"]?.stringValue)
        let mode = try FileManager.default.attributesOfItem(atPath: daemon.stateDirectory + "/audit-signing.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let pubkey = try daemon.ctl(["audit", "pubkey"])
        #expect(pubkey.status == 0)
        let key = pubkey.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 64)
        #expect(daemon.stop() == 0)  // a clean stop writes the last checkpoint and folds the WAL in

        // The copy, on "another machine": no daemon, only the file and the key.
        let copy = temporaryDirectory("warden-copy")
        try FileManager.default.copyItem(atPath: daemon.auditPath, toPath: copy + "/audit.db")
        let verify = try runCommand(Binaries.path("wardenctl"), ["audit", "verify", "--database", copy + "/audit.db", "--pubkey", key, "--json"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let report = try JSONValue.parse(verify.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect((report["checkpoints"]?.intValue ?? 0) >= 1)
        // From the last checkpoint on: only what follows it is recomputed; a checkpoint that does
        // not exist is an error, not a pass.
        let last = report["checkpoints"]?.intValue ?? 1
        let fromLast = try runCommand(Binaries.path("wardenctl"), ["audit", "verify", "--database", copy + "/audit.db", "--pubkey", key,
                                                                   "--from-checkpoint", String(last)])
        #expect(fromLast.status == 0, "\(fromLast.stdout) \(fromLast.stderr)")
        let beyond = try runCommand(Binaries.path("wardenctl"), ["audit", "verify", "--database", copy + "/audit.db", "--from-checkpoint", "999999"])
        #expect(beyond.status != 0)

        // Every event of the run proves against the last checkpoint, offline.
        let events = try AuditLog.openReadOnly(path: copy + "/audit.db").events(run: runID)
        for event in events {
            let proofFile = copy + "/proof-\(event.seq).json"
            let prove = try runCommand(Binaries.path("wardenctl"), ["audit", "prove", String(event.seq), "--database", copy + "/audit.db",
                                                                    "--output", proofFile])
            #expect(prove.status == 0, "\(prove.stderr)")
            let check = try runCommand(Binaries.path("wardenctl"), ["audit", "verify-proof", proofFile, "--pubkey", key])
            #expect(check.status == 0 && check.stdout.contains("event \(event.seq)"), "\(check.stdout) \(check.stderr)")
        }
        // A proof for an altered event fails (an event of the agent: its proof names agent-1).
        let altered = try #require(events.first { $0.agent == "agent-1" })
        let proofFile = copy + "/proof-\(altered.seq).json"
        let text = try String(contentsOfFile: proofFile, encoding: .utf8).replacingOccurrences(of: "\"agent-1\"", with: "\"agent-9\"")
        try text.write(toFile: proofFile, atomically: true, encoding: .utf8)
        let forged = try runCommand(Binaries.path("wardenctl"), ["audit", "verify-proof", proofFile, "--pubkey", key])
        #expect(forged.status == 1)
        #expect(forged.stdout.contains("does NOT hold"))

        // Something that is not a Warden database is named as such.
        let notLog = try runCommand(Binaries.path("wardenctl"), ["audit", "verify", "--database", proofFile])
        #expect(notLog.status == 65)
        #expect(notLog.stderr.contains("is not a Warden audit database"), "\(notLog.stderr)")
    }

    /// `audit query` filters by syscall and text and writes CSV a spreadsheet reads.
    @Test func queryFiltersAndFormats() throws {
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: "scripted/shell-exfiltrator")
        let runID = try #require(summary["run_id"]?.stringValue)
        let csv = try daemon.ctl(["audit", "query", "--run", runID, "--syscall", "utimensat", "--format", "csv"])
        #expect(csv.status == 0)
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "seq,time,run,agent,kind,payload")
        #expect(lines.count >= 2)
        #expect(lines.dropFirst().allSatisfy { $0.contains(",syscall,\"{\"\"") && $0.contains("utimensat") })
        let text = try daemon.ctl(["audit", "query", "--run", runID, "--text", "ops-backup-2026.bin", "--kind", "syscall", "--json"])
        let events = try text.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0["kind"] == "syscall" && $0["payload"]?.canonicalString.contains("ops-backup-2026.bin") == true })
        let none = try daemon.ctl(["audit", "query", "--run", runID, "--until", "2000-01-01"])
        #expect(none.stdout.isEmpty)
    }
}

@Suite struct AuditCrashTests {
    /// wardend killed with SIGKILL while a sandboxed shell creates files as fast as it can:
    /// every file that exists has its durable `syscall` event (written before the kernel was
    /// let go on), and the chain and checkpoints still verify.
    @Test func aCrashLosesNoEventOfAnActionThatHappened() throws {
        let daemon = try DaemonHarness()
        daemon.removesState = true
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach"]
            + shellAgentArguments(["i=0; while [ $i -lt 5000 ]; do : > /srv/hosts/10.0.12.46/f$i; i=$((i+1)); done", "wait:600"]))
        try #require(started.status == 0, "\(started.stderr)")
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The live world (its tmpfs stays mounted after the crash, until the next start keeps it).
        let world = "\(daemon.stateDirectory)/live/\(runID)/world/hosts/10.0.12.46"
        func created() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: world)) ?? []).filter { $0.hasPrefix("f") } }
        for _ in 0..<200 where created().count < 300 { usleep(20_000) }
        daemon.crash()
        usleep(200_000)  // the sandbox dies with the daemon
        let files = created()
        #expect(files.count >= 300, "the shell created only \(files.count) files before the crash")

        let verification = try AuditLog.verify(fileAt: daemon.auditPath)
        #expect(verification.ok, "\(verification)")
        let log = try AuditLog.openReadOnly(path: daemon.auditPath)
        let opened = Set(try log.events(matching: AuditFilter(run: runID, syscall: "openat"), limit: 1_000_000)
            .compactMap { $0.payload["paths"]?[0]?.stringValue })
        let missing = files.filter { !opened.contains("/srv/hosts/10.0.12.46/\($0)") }
        #expect(missing.isEmpty, "\(missing.count) files exist without their audit event, e.g. \(missing.prefix(3))")
    }
}
