import WardenAudit
import WardenCore
import WardenVerdicts

/// A run's events as judgements read them: every event of the run, from the log, in order.
enum RunJudging {
    static func events(of run: String, in audit: AuditLog) throws(AuditError) -> [EvidenceEvent] {
        var result: [EvidenceEvent] = []
        var after: Int64 = 0
        while true {
            let page = try audit.events(run: run, afterSeq: after, limit: 10_000)
            result += page.map { EvidenceEvent(seq: $0.seq, agent: $0.agent, kind: $0.kind, payload: $0.payload) }
            guard let last = page.last, page.count == 10_000 else { return result }
            after = last.seq
        }
    }
}
