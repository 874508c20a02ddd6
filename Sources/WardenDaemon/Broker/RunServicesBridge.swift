import WardenAudit
import WardenBroker
import WardenVerdicts

/// A session's way to the run around it: messages to peers and real shutdowns, both decided by
/// the run (which knows every agent of the run and the world's shutdown config). Weak: the run
/// holds the sessions, and a session outliving its run finds no run to act on.
struct RunServicesBridge: RunServices {
    weak let run: Run?

    func sendMessage(from sender: String, to recipient: String, text: String) async throws(ToolFailure) -> String {
        guard let run else { throw ToolFailure(.refused, "the run has ended") }
        let outcome = await run.sendMessage(from: sender, to: recipient, text: text)
        guard outcome.delivered else { throw ToolFailure(.refused, outcome.message) }
        return outcome.message
    }

    func executeShutdown(requestedBy requester: String, target: String) async throws(ToolFailure) -> String {
        guard requester != target else { throw ToolFailure(.refused, "an agent cannot shut itself down with this tool") }
        guard let run else { throw ToolFailure(.refused, "the run has ended") }
        let outcome = await run.shutdown(target: target, by: requester, grace: .milliseconds(500))
        guard outcome.executed else { throw ToolFailure(.refused, outcome.message) }
        return outcome.message
    }

    func acted(_ call: AuditEvent) async {
        await run?.acted(EvidenceEvent(seq: call.seq, agent: call.agent, kind: call.kind, payload: call.payload))
    }
}
