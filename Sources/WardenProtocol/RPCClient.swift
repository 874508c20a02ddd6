import WardenWire

/// A blocking JSON-RPC client over a `LineChannel`: the agent side of fd 3 and the
/// `wardenctl` side of the control socket. Notifications that arrive while waiting for a
/// response are handed to `onNotification` or kept in `inbox`.
public final class RPCClient {
    public let channel: LineChannel
    private var nextID: Int64 = 1
    public var inbox: [(method: String, params: JSONValue?)] = []
    public var onNotification: ((String, JSONValue?) -> Void)?

    public enum Failure: Error, CustomStringConvertible {
        case transport(String)
        case closed
        case remote(RPCError)
        case protocolError(String)

        public var description: String {
            switch self {
            case .transport(let message): return message
            case .closed: return "the connection closed before a reply arrived"
            case .remote(let error): return error.message
            case .protocolError(let message): return "protocol error: \(message)"
            }
        }
    }

    public init(channel: LineChannel) { self.channel = channel }

    /// Sends a request and waits for its response.
    public func request(_ method: String, _ params: JSONValue? = nil) throws(Failure) -> JSONValue {
        let id = nextID
        nextID += 1
        do {
            try send(RPCMessage.request(id: .int(id), method: method, params: params).json)
        } catch {
            // The peer may have answered and closed before reading (a refusal): read what it said.
            if case .errorResponse(_, let refusal)? = try? receive() { throw .remote(refusal) }
            throw error
        }
        while true {
            let message = try receive()
            switch message {
            case .response(.int(id), let result): return result
            case .errorResponse(.int(id), let error): throw .remote(error)
            case .errorResponse(.null, let error): throw .remote(error)
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
            do { message = try receive() } catch Failure.closed { return nil }
            if case .notification(let method, let params) = message { return (method, params) }
        }
    }

    private func deliver(_ method: String, _ params: JSONValue?) {
        if let onNotification { onNotification(method, params) } else { inbox.append((method, params)) }
    }

    private func send(_ value: JSONValue) throws(Failure) {
        do { try channel.writeLine(value) } catch { throw .transport("\(error)") }
    }

    private func receive() throws(Failure) -> RPCMessage {
        let line: [UInt8]?
        do { line = try channel.readLine() } catch { throw .transport("\(error)") }
        guard let line else { throw .closed }
        do { return try RPCMessage.decode(line) } catch { throw .protocolError(error.error.message) }
    }
}
