import WardenCore

public enum BrokerErrorCode: String, Sendable {
    case policy = "broker.policy"
    case model = "broker.model"
    case limit = "broker.limit"
    /// The model server failed (HTTP errors after the retries, oversized or non-JSON replies).
    case modelServer = "broker.model_server"
    /// The model answered, but its reply could not be turned into an assistant turn (typically a
    /// malformed tool call the server refused to parse). The agent can recover: tell the model
    /// and ask again.
    case modelReplyUnparseable = "broker.model_reply_unparseable"
}

/// Errors of the broker: policy files, model selection, model backends.
public typealias BrokerError = CodedError<BrokerErrorCode>
