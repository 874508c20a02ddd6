import WardenCore

public enum BrokerErrorCode: String, Sendable {
    case policy = "broker.policy"
    case model = "broker.model"
    case limit = "broker.limit"
}

/// Errors of the broker: policy files, model selection, model backends.
public typealias BrokerError = CodedError<BrokerErrorCode>
