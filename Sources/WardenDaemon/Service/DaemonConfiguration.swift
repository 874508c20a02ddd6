import Foundation
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore

/// Where the daemon keeps its state and finds its parts.
public struct DaemonConfiguration: Sendable {
    public var stateDirectory: String
    public var socketPath: String
    public var policiesDirectory: String
    public var launcherPath: String
    public var agentPath: String
    /// The stdio relay for MCP clients, bound into every sandbox next to the agent runtime.
    public var mcpRelayPath: String?
    public var credentials: ModelCredentials
    /// Members of this group may use the control socket (besides root and the daemon's user).
    public var controlGroup: String = "warden"
    /// A control request must arrive whole within this many seconds once it has begun.
    public var requestTimeoutSeconds: Double = 10
    /// Sandbox launchers kept started and waiting, so an agent's sandbox starts without waiting
    /// for exec and the launcher's runtime (0 starts each one on demand).
    public var standbyLaunchers = 1
    /// A signed audit checkpoint every this many events, and every `checkpointSeconds` while
    /// events arrive.
    public var checkpointEvery: Int64 = 1000
    public var checkpointSeconds: Double = 5
    /// Bounds on what a flood of refused connections or supervised syscalls writes to the log.
    public var auditLimits = AuditLimits()
    /// This daemon's name on the host (its cgroups, its launchers), from its state directory.
    public var instance: String { Instance.name(stateDirectory: stateDirectory) }

    public init(stateDirectory: String, socketPath: String, policiesDirectory: String, launcherPath: String, agentPath: String,
                mcpRelayPath: String? = nil, credentials: ModelCredentials = .init()) {
        self.mcpRelayPath = mcpRelayPath
        self.credentials = credentials
        self.stateDirectory = stateDirectory
        self.socketPath = socketPath
        self.policiesDirectory = policiesDirectory
        self.launcherPath = launcherPath
        self.agentPath = agentPath
    }
}
