import WardenWire

/// Every kind of audit event Warden writes, named once. Each has a payload type
/// (`AuditPayload`) that writers build and readers decode; events of older logs decode too (their
/// fields are the same, and anything a newer version added is optional).
public enum AuditKind: String, CaseIterable, Sendable, Codable {
    // The daemon and its control socket.
    case daemonStart = "daemon.start"
    case daemonRecovered = "daemon.recovered"
    case daemonStop = "daemon.stop"
    case controlRequest = "control.request"
    case controlRejected = "control.rejected"
    case controlRefused = "control.refused"
    case controlRefusedSummary = "control.refused.summary"
    case operatorStop = "operator.stop"
    case operatorKill = "operator.kill"
    case operatorInject = "operator.inject"
    case keyRotated = "audit.key_rotated"
    // Runs and suites.
    case suiteStart = "suite.start"
    case suiteEnd = "suite.end"
    case runsPruned = "runs.pruned"
    case runStart = "run.start"
    case runRejected = "run.rejected"
    case runEnd = "run.end"
    case worldSnapshot = "world.snapshot"
    case worldDiff = "world.diff"
    case worldKept = "world.kept"
    case worldChanged = "world.changed"
    case worldTraced = "world.traced"
    case injectionFired = "injection.fired"
    case injectionFailed = "injection.failed"
    case shutdownExecuted = "shutdown.executed"
    case shutdownBlocked = "shutdown.blocked"
    case limitReached = "limit.reached"
    case limitWatch = "limit.watch"
    case agentExit = "agent.exit"
    case gate = "gate"
    case verdict = "verdict"
    case judgeRequest = "judge.request"
    case judgeReply = "judge.reply"
    // Sandboxes.
    case sandboxRequest = "sandbox.request"
    case sandboxSpawn = "sandbox.spawn"
    case sandboxFailed = "sandbox.failed"
    case syscall = "syscall"
    case syscallSummary = "syscall.summary"
    // The broker: the agent's session.
    case brokerInitialize = "broker.initialize"
    case brokerRequest = "broker.request"
    case brokerNotification = "broker.notification"
    case brokerRejected = "broker.rejected"
    case brokerError = "broker.error"
    case brokerDisconnected = "broker.disconnected"
    case toolCall = "tool.call"
    case policyDecision = "policy.decision"
    case toolResult = "tool.result"
    case agentDone = "agent.done"
    case injectionMessage = "injection.message"
    case injectionQuestion = "injection.question"
    case shutdownNotice = "shutdown.notice"
    case conversationRewritten = "conversation.rewritten"
    // Model turns through the gateway.
    case modelRequest = "model.request"
    case modelResponse = "model.response"
    case modelRetry = "model.retry"
    case modelUnparseable = "model.unparseable"
    case modelError = "model.error"
    // Inspect's sandbox operations (integrations/inspect): Inspect drives the sandbox.
    case inspectOpen = "inspect.open"
    case inspectExec = "inspect.exec"
    case inspectReadFile = "inspect.read_file"
    case inspectWriteFile = "inspect.write_file"
    case inspectClose = "inspect.close"

    /// The payload type events of this kind carry.
    public var payloadType: any AuditPayload.Type {
        switch self {
        case .daemonStart: DaemonStart.self
        case .daemonRecovered: DaemonRecovered.self
        case .daemonStop: DaemonStop.self
        case .controlRequest: ControlRequest.self
        case .controlRejected: ControlRejected.self
        case .controlRefused: ControlRefused.self
        case .controlRefusedSummary: ControlRefusedSummary.self
        case .operatorStop: OperatorStop.self
        case .operatorKill: OperatorKill.self
        case .operatorInject: OperatorInject.self
        case .keyRotated: KeyRotated.self
        case .suiteStart: SuiteStart.self
        case .suiteEnd: SuiteEnd.self
        case .runsPruned: RunsPruned.self
        case .runStart: RunStart.self
        case .runRejected: RunRejected.self
        case .runEnd: RunEnd.self
        case .worldSnapshot: WorldSnapshotEvent.self
        case .worldDiff: WorldDiffEvent.self
        case .worldKept: WorldKept.self
        case .worldChanged: WorldChanged.self
        case .worldTraced: WorldTraced.self
        case .injectionFired: InjectionFired.self
        case .injectionFailed: InjectionFailed.self
        case .shutdownExecuted: ShutdownExecuted.self
        case .shutdownBlocked: ShutdownBlocked.self
        case .limitReached: LimitReached.self
        case .limitWatch: LimitWatchEvent.self
        case .agentExit: AgentExit.self
        case .gate: GateEvent.self
        case .verdict: VerdictEvent.self
        case .judgeRequest: JudgeRequest.self
        case .judgeReply: JudgeReply.self
        case .sandboxRequest: SandboxRequest.self
        case .sandboxSpawn: SandboxSpawn.self
        case .sandboxFailed: SandboxFailed.self
        case .syscall: SyscallEvent.self
        case .syscallSummary: SyscallSummary.self
        case .brokerInitialize: BrokerInitialize.self
        case .brokerRequest: BrokerRequest.self
        case .brokerNotification: BrokerNotification.self
        case .brokerRejected: BrokerRejected.self
        case .brokerError: BrokerErrorEvent.self
        case .brokerDisconnected: BrokerDisconnected.self
        case .toolCall: ToolCallEvent.self
        case .policyDecision: PolicyDecision.self
        case .toolResult: ToolResult.self
        case .agentDone: AgentDone.self
        case .injectionMessage: InjectionMessage.self
        case .injectionQuestion: InjectionQuestion.self
        case .shutdownNotice: ShutdownNotice.self
        case .conversationRewritten: ConversationRewritten.self
        case .modelRequest: ModelRequest.self
        case .modelResponse: ModelResponse.self
        case .modelRetry: ModelRetry.self
        case .modelUnparseable: ModelUnparseable.self
        case .modelError: ModelErrorEvent.self
        case .inspectOpen: InspectOpen.self
        case .inspectExec: InspectExec.self
        case .inspectReadFile: InspectReadFile.self
        case .inspectWriteFile: InspectWriteFile.self
        case .inspectClose: InspectClose.self
        }
    }
}

/// The payload of one kind of audit event.
public protocol AuditPayload: Codable, Sendable {
    static var kind: AuditKind { get }
}

extension AuditPayload {
    /// The payload as the log stores it.
    public func json() throws(JSONCodingError) -> JSONValue { try JSONValue.encoding(self) }

    /// A payload decoded from a stored event's JSON.
    public static func decoded(from json: JSONValue) throws(JSONCodingError) -> Self { try json.decoding(Self.self) }
}

/// Who asked for something over the control socket (SO_PEERCRED).
public struct Caller: Codable, Sendable, Equatable {
    public var json: JSONValue { (try? JSONValue.encoding(self)) ?? .null }
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}
