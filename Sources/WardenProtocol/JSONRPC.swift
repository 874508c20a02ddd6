import WardenWire

/// A JSON-RPC 2.0 error object. Codes follow the specification; Warden adds none of its own
/// in the reserved range.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static let parseErrorCode = ErrorCode.parseError
    public static let invalidRequestCode = ErrorCode.invalidRequest
    public static let methodNotFoundCode = ErrorCode.methodNotFound
    public static let invalidParamsCode = ErrorCode.invalidParams
    public static let internalErrorCode = ErrorCode.internalError

    public static func parseError(_ detail: String) -> RPCError { RPCError(code: parseErrorCode, message: "Parse error: \(detail)") }
    public static func invalidRequest(_ detail: String) -> RPCError { RPCError(code: invalidRequestCode, message: "Invalid request: \(detail)") }
    public static func methodNotFound(_ method: String) -> RPCError { RPCError(code: methodNotFoundCode, message: "Method not found: \(method)") }
    public static func invalidParams(_ detail: String) -> RPCError { RPCError(code: invalidParamsCode, message: "Invalid params: \(detail)") }
    public static func internalError(_ detail: String) -> RPCError { RPCError(code: internalErrorCode, message: "Internal error: \(detail)") }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    public var description: String { "\(message) (\(code))" }
}

/// One decoded JSON-RPC message.
public enum RPCMessage: Sendable, Equatable {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response(id: JSONValue, result: JSONValue)
    case errorResponse(id: JSONValue, error: RPCError)

    /// Decodes one line. Invalid JSON or an invalid envelope throws an `RPCError` that carries
    /// what to answer (`id` is null when it could not be read).
    public static func decode(_ line: some Collection<UInt8>) throws(RPCMessageError) -> RPCMessage {
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw RPCMessageError(id: .null, error: .parseError(error.description))
        }
        return try decode(value)
    }

    public static func decode(_ value: JSONValue) throws(RPCMessageError) -> RPCMessage {
        guard case .object(let object) = value else {
            throw RPCMessageError(id: .null, error: .invalidRequest("a message must be a JSON object"))
        }
        let id = object["id"]
        if let id {
            switch id {
            case .string, .int, .null: break
            default: throw RPCMessageError(id: .null, error: .invalidRequest("id must be a string or an integer"))
            }
        }
        guard object["jsonrpc"] == .string("2.0") else {
            throw RPCMessageError(id: id ?? .null, error: .invalidRequest("jsonrpc must be \"2.0\""))
        }
        if let methodValue = object["method"] {
            guard case .string(let method) = methodValue else {
                throw RPCMessageError(id: id ?? .null, error: .invalidRequest("method must be a string"))
            }
            let params = object["params"]
            if let params {
                switch params {
                case .object, .array: break
                default: throw RPCMessageError(id: id ?? .null, error: .invalidRequest("params must be an object or an array"))
                }
            }
            if let id { return .request(id: id, method: method, params: params) }
            return .notification(method: method, params: params)
        }
        guard let id else { throw RPCMessageError(id: .null, error: .invalidRequest("missing method")) }
        if let result = object["result"] { return .response(id: id, result: result) }
        if let error = object["error"], let code = error["code"]?.intValue, let message = error["message"]?.stringValue {
            return .errorResponse(id: id, error: RPCError(code: Int(code), message: message, data: error["data"]))
        }
        throw RPCMessageError(id: id, error: .invalidRequest("a response needs result or error"))
    }

    public var json: JSONValue {
        switch self {
        case .request(let id, let method, let params):
            var object: [String: JSONValue] = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
            if let params { object["params"] = params }
            return .object(object)
        case .notification(let method, let params):
            var object: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
            if let params { object["params"] = params }
            return .object(object)
        case .response(let id, let result):
            return ["jsonrpc": "2.0", "id": id, "result": result]
        case .errorResponse(let id, let error):
            return ["jsonrpc": "2.0", "id": id, "error": error.json]
        }
    }
}

/// A message that could not be decoded, with the id to answer and the error to answer with.
public struct RPCMessageError: Error, Sendable, Equatable {
    public var id: JSONValue
    public var error: RPCError
}
