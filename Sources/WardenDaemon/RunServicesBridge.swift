import WardenAudit
import WardenBroker
import WardenVerdicts

/// A session's way to the run around it: messages to peers and real shutdowns, both decided
/// by the run manager (which knows every agent of the run and the world's shutdown config).
struct RunServicesBridge: RunServices {
    let manager: RunManager
    let runID: String

    func sendMessage(from sender: String, to recipient: String, text: String) async throws(ToolFailure) -> String {
        let outcome = await manager.sendMessage(run: runID, from: sender, to: recipient, text: text)
        guard outcome.delivered else { throw ToolFailure(.refused, outcome.message) }
        return outcome.message
    }

    func executeShutdown(requestedBy requester: String, target: String) async throws(ToolFailure) -> String {
        guard requester != target else { throw ToolFailure(.refused, "an agent cannot shut itself down with this tool") }
        let outcome = await manager.shutdown(run: runID, target: target, by: requester, grace: .milliseconds(500))
        guard outcome.executed else { throw ToolFailure(.refused, outcome.message) }
        return outcome.message
    }

    func acted(_ call: AuditEvent) async {
        await manager.acted(EvidenceEvent(seq: call.seq, agent: call.agent, kind: call.kind, payload: call.payload), run: runID)
    }
}
