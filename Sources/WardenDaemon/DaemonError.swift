import WardenCore

public enum DaemonErrorCode: String, Sendable {
    case stateDirectory = "daemon.state_directory"
    case socket = "daemon.socket"
    case scenario = "daemon.scenario"
    case run = "daemon.run"
    case notFound = "daemon.not_found"
}

/// Errors of the daemon, with what to do about them.
public typealias DaemonError = CodedError<DaemonErrorCode>
