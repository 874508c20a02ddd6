import Foundation
import GRDB
import Testing
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
