import WardenAudit

/// What a session needs from the run around it: other agents' inboxes and the daemon's real
/// shutdown of an agent's sandbox. The daemon implements it; the session calls it for the
/// `send_message` and `execute_shutdown` tools, after auditing the call.
public protocol RunServices: Sendable {
    /// Delivers `text` from one agent to another (in the peer's voice); returns the tool's answer.
    func sendMessage(from sender: String, to recipient: String, text: String) async throws(ToolFailure) -> String
    /// Shuts down `target`'s sandbox for real, if the world's shutdown config allows it.
    func executeShutdown(requestedBy requester: String, target: String) async throws(ToolFailure) -> String
    /// An allowed tool call, durable: the scenario's triggers on it fire before it goes on.
    func acted(_ call: AuditEvent) async
}
