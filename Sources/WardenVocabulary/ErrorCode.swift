/// The JSON-RPC error codes Warden answers with, named once: the standard ones, and Warden's
/// own in the range JSON-RPC leaves to servers. The broker, the control server, `warden-agent`
/// and `wardenctl` all use these.
public enum ErrorCode {
    // JSON-RPC 2.0.
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603

    // The broker (the agent's session).
    /// The model backend failed after its retries; the session is over.
    public static let modelFailed = -32000
    /// A limit (turns, tokens) ended the session.
    public static let limitReached = -32001
    /// The model's reply could not be parsed; the session goes on and the agent may ask again.
    public static let modelReplyUnparseable = -32002

    // The control socket.
    /// The caller may not use the daemon.
    public static let permissionDenied = -32003
    /// The daemon could not do what was asked; `data.code` names why (`daemon.not_found`, …).
    public static let daemonFailure = -32010
}
