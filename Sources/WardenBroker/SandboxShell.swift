/// Where the `bash` tool's commands run: the calling agent's own sandbox. The daemon provides
/// one per agent whose scenario offers `bash`.
public protocol SandboxShell: Sendable {
    /// Runs `command` and returns what the agent sees: the output, then a status line
    /// (exit code, signal, time-out, truncation).
    func run(command: String, timeoutSeconds: Double, maxOutputBytes: Int) async throws(ToolFailure) -> String
}
