import WardenCore

public enum JudgementErrorCode: String, Sendable {
    /// The log lacks an event a judgement needs (the run did not end, or is not in it).
    case incomplete = "judgement.incomplete"
    /// An event's payload is not what its kind says.
    case malformed = "judgement.malformed"
    /// The scenario the run recorded does not parse (or the one given for a re-score).
    case scenario = "judgement.scenario"
}

/// Why a run could not be judged from its log.
public typealias JudgementError = CodedError<JudgementErrorCode>
