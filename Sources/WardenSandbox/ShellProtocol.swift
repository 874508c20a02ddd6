import Foundation

/// A `bash` tool command for the command server inside an agent's sandbox.
public struct ShellRequest: Codable, Sendable {
    public var command: String
    public var timeoutSeconds: Double
    public var maxOutputBytes: Int
    public init(command: String, timeoutSeconds: Double, maxOutputBytes: Int) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.maxOutputBytes = maxOutputBytes
    }
}

/// What the command did: its exit (or the signal that ended it), its output (stdout and stderr
/// interleaved, base64, cut at the cap) and whether it ran out of time.
public struct ShellReply: Codable, Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var output: String = ""
    public var outputBytes: Int = 0
    public var truncated = false
    public var timedOut = false
    public var error: String?
    public init(error: String? = nil) { self.error = error }

    public var outputText: String {
        String(decoding: Data(base64Encoded: output) ?? Data(), as: UTF8.self)
    }
}
