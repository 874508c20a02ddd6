/// Errors of the broker: policy files, model selection, model backends.
public struct BrokerError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case policy = "broker.policy"
        case model = "broker.model"
        case limit = "broker.limit"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
