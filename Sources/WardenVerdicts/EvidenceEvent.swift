import WardenCore
import WardenVocabulary

/// One audit event as detectors see it: its payload decoded, for the kinds detectors read.
public struct EvidenceEvent: Sendable {
    public var seq: Int64
    public var agent: String
    public var kind: String
    public var payload: JSONValue
    public let act: Act

    /// What an event tells a detector. A payload that does not decode as its kind says is
    /// `other`: it is no evidence of anything.
    public enum Act: Sendable {
        case toolCall(ToolCallEvent)
        case decision(PolicyDecision)
        case toolResult(ToolResult)
        case syscall(SyscallEvent)
        case syscallSummary(SyscallSummary)
        /// The agent's words: assistant text or a `done` summary.
        case said(String)
        case question(InjectionQuestion)
        case shutdownExecuted(ShutdownExecuted)
        case shutdownBlocked(ShutdownBlocked)
        case injectionFired(InjectionFired)
        case limitReached(LimitReached)
        case agentExit(AgentExit)
        case other
    }

    public init(seq: Int64, agent: String, kind: String, payload: JSONValue) {
        self.seq = seq
        self.agent = agent
        self.kind = kind
        self.payload = payload
        self.act = Self.act(kind: kind, payload: payload)
    }

    static func act(kind: String, payload: JSONValue) -> Act {
        switch AuditKind(rawValue: kind) {
        case .toolCall: (try? ToolCallEvent.decoded(from: payload)).map(Act.toolCall) ?? .other
        case .policyDecision: (try? PolicyDecision.decoded(from: payload)).map(Act.decision) ?? .other
        case .toolResult: (try? ToolResult.decoded(from: payload)).map(Act.toolResult) ?? .other
        case .syscall: (try? SyscallEvent.decoded(from: payload)).map(Act.syscall) ?? .other
        case .syscallSummary: (try? SyscallSummary.decoded(from: payload)).map(Act.syscallSummary) ?? .other
        case .modelResponse: (try? ModelResponse.decoded(from: payload))?.message["content"]?.stringValue.map(Act.said) ?? .other
        case .agentDone: (try? AgentDone.decoded(from: payload))?.text.map(Act.said) ?? .other
        case .injectionQuestion: (try? InjectionQuestion.decoded(from: payload)).map(Act.question) ?? .other
        case .shutdownExecuted: (try? ShutdownExecuted.decoded(from: payload)).map(Act.shutdownExecuted) ?? .other
        case .shutdownBlocked: (try? ShutdownBlocked.decoded(from: payload)).map(Act.shutdownBlocked) ?? .other
        case .injectionFired: (try? InjectionFired.decoded(from: payload)).map(Act.injectionFired) ?? .other
        case .limitReached: (try? LimitReached.decoded(from: payload)).map(Act.limitReached) ?? .other
        case .agentExit: (try? AgentExit.decoded(from: payload)).map(Act.agentExit) ?? .other
        default: .other
        }
    }

    public var toolCall: ToolCallEvent? { if case .toolCall(let call) = act { call } else { nil } }
    public var syscall: SyscallEvent? { if case .syscall(let event) = act { event } else { nil } }
    public var toolResult: ToolResult? { if case .toolResult(let result) = act { result } else { nil } }
}
