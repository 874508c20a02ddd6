import WardenCore

public enum DaemonErrorCode: String, Sendable {
    case stateDirectory = "daemon.state_directory"
    case socket = "daemon.socket"
    case scenario = "daemon.scenario"
    case run = "daemon.run"
    case notFound = "daemon.not_found"
    /// wardend lacks a capability every sandbox needs.
    case privileges = "daemon.privileges"
}

/// Errors of the daemon, with what to do about them.
public typealias DaemonError = CodedError<DaemonErrorCode>
