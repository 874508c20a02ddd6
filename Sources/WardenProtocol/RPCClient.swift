import WardenWire

/// A blocking JSON-RPC client over a `LineChannel`: the agent side of fd 3 and the
/// `wardenctl` side of the control socket. Notifications that arrive while waiting for a
/// response are handed to `onNotification` or kept in `inbox`.
public enum RPCClientErrorCode: String, Sendable {
    /// The channel failed (its cause says how).
    case transport = "rpc.transport"
    case closed = "rpc.closed"
    /// The peer answered with a JSON-RPC error (the cause).
    case remote = "rpc.remote"
    /// The peer sent something that is not JSON-RPC.
    case protocolError = "rpc.protocol"
}

extension CodedError where Code == RPCClientErrorCode {
    /// The peer's answer, as the failure it is.
    static func remote(_ error: RPCError) -> Self { Self(.remote, error.message, cause: error) }

    /// The peer's JSON-RPC error, when that is what this is.
    public var remote: RPCError? { code == .remote ? cause as? RPCError : nil }
}

public final class RPCClient {
    public let channel: LineChannel
    private var nextID: Int64 = 1
    public var inbox: [(method: String, params: JSONValue?)] = []
    public var onNotification: ((String, JSONValue?) -> Void)?

    public typealias Failure = CodedError<RPCClientErrorCode>

    public init(channel: LineChannel) { self.channel = channel }

    /// Sends a request and waits for its response.
    public func request(_ method: String, _ params: JSONValue? = nil) throws(Failure) -> JSONValue {
        let id = nextID
        nextID += 1
        do {
            try send(RPCMessage.request(id: .int(id), method: method, params: params).json)
        } catch {
            // The peer may have answered and closed before reading (a refusal): read what it said.
            if case .errorResponse(_, let refusal)? = try? receive() { throw Failure.remote(refusal) }
            throw error
        }
        while true {
            let message = try receive()
            switch message {
            case .response(.int(id), let result): return result
            case .errorResponse(.int(id), let error): throw Failure.remote(error)
            case .errorResponse(.null, let error): throw Failure.remote(error)
            case .notification(let method, let params): deliver(method, params)
            case .request, .response, .errorResponse: continue
            }
        }
    }

    public func notify(_ method: String, _ params: JSONValue? = nil) throws(Failure) {
        try send(RPCMessage.notification(method: method, params: params).json)
    }

    /// Blocks until a notification arrives (or returns a queued one); nil at end of stream.
    public func nextNotification() throws(Failure) -> (method: String, params: JSONValue?)? {
        if !inbox.isEmpty { return inbox.removeFirst() }
        while true {
            let message: RPCMessage
            do { message = try receive() } catch where error.code == .closed { return nil }
            if case .notification(let method, let params) = message { return (method, params) }
        }
    }

    private func deliver(_ method: String, _ params: JSONValue?) {
        if let onNotification { onNotification(method, params) } else { inbox.append((method, params)) }
    }

    private func send(_ value: JSONValue) throws(Failure) {
        do { try channel.writeLine(value) } catch { throw Failure(.transport, "cannot send", cause: error) }
    }

    private func receive() throws(Failure) -> RPCMessage {
        let line: [UInt8]?
        do { line = try channel.readLine() } catch { throw Failure(.transport, "cannot receive", cause: error) }
        guard let line else { throw Failure(.closed, "the connection closed before a reply arrived") }
        do { return try RPCMessage.decode(line) } catch { throw Failure(.protocolError, "protocol error: \(error.error.message)") }
    }
}
