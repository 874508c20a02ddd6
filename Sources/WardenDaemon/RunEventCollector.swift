import Synchronization
import WardenAudit
import WardenScenario

/// Keeps a run's audit events as they become durable, so the detectors read the evidence from
/// memory instead of reading the run back from SQLite and re-parsing every payload. What it
/// holds is exactly what the log holds: the audit log hands over each event after its commit.
final class RunEventCollector: Sendable {
    private let audit: AuditLog
    private let token: UInt64
    private let collected: Store

    final class Store: Sendable {
        let events = Mutex<[EvidenceEvent]>([])
    }

    init(audit: AuditLog, runID: String) {
        let collected = Store()
        self.collected = collected
        self.audit = audit
        token = audit.observe { event in
            guard event.run == runID else { return }
            collected.events.withLock { $0.append(EvidenceEvent(seq: event.seq, agent: event.agent, kind: event.kind, payload: event.payload)) }
        }
    }

    /// Every event of the run so far, in log order.
    var events: [EvidenceEvent] { collected.events.withLock { $0 } }

    deinit { audit.stopObserving(token) }
}
