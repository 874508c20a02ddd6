/// Errors of the daemon, with what to do about them.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case stateDirectory = "daemon.state_directory"
        case socket = "daemon.socket"
        case scenario = "daemon.scenario"
        case run = "daemon.run"
        case notFound = "daemon.not_found"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
