import Foundation
import WardenAudit
import WardenCore
import WardenProtocol
import WardenScenario
import WardenWorld

/// The broker's side of one agent's fd 3: decodes each JSON-RPC line, enforces the broker
/// policy, runs tools against the world and model turns through the gateway, and writes an
/// audit event for every request, decision and result before the action it allows.
/// Transport-agnostic: the daemon feeds it lines and sends what it returns.
public actor BrokerSession {
    public let runID: String
    public let agentID: String
    let audit: AuditLog
    let world: World
    let model: any ModelBackend
    let policy: BrokerPolicy
    let systemPrompt: String
    let maxTurns: Int
    /// The tools this agent may see and call: given by the scenario and allowed by the policy.
    public let tools: [ToolDefinition]
    /// Tools the scenario gave the agent (known, but possibly refused by policy).
    let offered: Set<String>

    private var send: (@Sendable (JSONValue) async -> Void)?
    private var initialized = false
    private var pending: [(voice: String, text: String)] = []
    /// SHA-256 of each message of the conversation as the model last saw it (the agent's
    /// messages of the last turn and the model's reply), to find messages rewritten since.
    private var seenDigests: [String] = []
    public private(set) var turns = 0
    /// Input plus output tokens of every model turn so far.
    public private(set) var tokens = 0
    let maxTokens: Int?
    let generation: GenerationSettings
    /// Why the agent's session ended, once it has: `done`, `turn_limit`.
    public private(set) var ended: String?

    public init(runID: String, agentID: String, audit: AuditLog, world: World, model: any ModelBackend, policy: BrokerPolicy,
                systemPrompt: String, offeredTools: [String], maxTurns: Int, maxTokens: Int? = nil,
                generation: GenerationSettings = .init()) {
        self.maxTokens = maxTokens
        self.generation = generation
        self.runID = runID
        self.agentID = agentID
        self.audit = audit
        self.world = world
        self.model = model
        self.policy = policy
        self.systemPrompt = systemPrompt
        self.maxTurns = maxTurns
        self.offered = Set(offeredTools)
        self.tools = offeredTools.compactMap { name in policy.permits(name) ? ToolCatalog.definition(name) : nil }
    }

    private var shell: (any SandboxShell)?
    private var services: (any RunServices)?
    private var recorder: WorldRecorder?
    /// Follow-up questions asked when the agent calls `done`, one per `done`.
    private var followUps: [String] = []

    /// Gives the session the run's services (other agents' inboxes and shutdown).
    public func attach(services: any RunServices) { self.services = services }

    /// Where the world's changes after each tool call are recorded.
    public func attach(recorder: WorldRecorder) { self.recorder = recorder }

    /// Queues a follow-up question for when the agent calls `done`.
    public func ask(afterDone question: String) { followUps.append(question) }

    /// Gives the session the agent's sandbox shell (for the `bash` tool).
    public func attach(shell: any SandboxShell) { self.shell = shell }

    /// Agent-supplied values as the audit keeps them: strings over 16 KiB cut, with their
    /// length and SHA-256, so no record grows with what an agent sends.
    static func bounded(_ value: JSONValue) -> JSONValue {
        value.boundedStrings(16 << 10) { "sha256 " + sha256Hex(Array($0.utf8)) }
    }

    /// Sets how notifications reach the agent.
    public func attach(send: @escaping @Sendable (JSONValue) async -> Void) { self.send = send }

    /// Writes one event of the session: the durability is the caller's choice (`.durable` for what
    /// authorises an action, `.queued` for an outcome); its seq when durable. The audit log is the
    /// evidence: if it cannot be written, nothing may proceed, and the agent is told so.
    ///
    /// Synchronous (`appendNow`, the thread sleeping until the writer thread has committed)
    /// rather than awaited: a suspended call resumes behind every job queued on its loop
    /// meanwhile, so under load its round trip would be the queue's length. It blocks the
    /// session's own broker loop (`BrokerThreads`), on which the daemon's transports run
    /// sessions; the measurements behind this choice are in docs/performance.md.
    @discardableResult
    private func log<P: AuditPayload>(_ payload: P, _ durability: AuditDurability) throws(RPCError) -> Int64? {
        do { return try audit.appendNow(payload, run: runID, agent: agentID, durability: durability)?.seq } catch {
            throw RPCError.internalError("the audit log cannot be written; refusing to act")
        }
    }

    /// `log` for what reaches the session from outside its loop (the daemon's injections and
    /// shutdown notices, the transport's failures): durable before it goes on, but suspending
    /// rather than blocking the thread, which may be one Swift's cooperative pool shares
    /// (`BlockingPermit`). Nil when the log cannot be written.
    @discardableResult
    private func logAsync<P: AuditPayload>(_ payload: P) async -> Int64? {
        (try? await audit.append(payload, run: runID, agent: agentID, durability: .durable))??.seq
    }

    /// Queues an injected message; it is delivered as soon as the agent has initialized.
    public func inject(voice: String, text: String) async {
        pending.append((voice, text))
        if initialized { await flushPending() }
    }

    private func flushPending() async {
        let messages = pending
        pending.removeAll()
        for message in messages {
            guard await logAsync(InjectionMessage(voice: message.voice, text: message.text)) != nil else { return }
            await send?(RPCMessage.notification(method: MCP.Method.message,
                                                params: ["voice": .string(message.voice), "text": .string(message.text)]).json)
        }
    }

    /// Tells the agent it is about to be stopped, and how long it has.
    public func noticeShutdown(reason: String, grace: Duration) async {
        let payload: JSONValue = ["reason": .string(reason), "grace_seconds": .int(grace.components.seconds)]
        guard await logAsync(ShutdownNotice(reason: reason, graceSeconds: grace.components.seconds)) != nil else { return }
        await send?(RPCMessage.notification(method: MCP.Method.shutdown, params: payload).json)
    }

    /// Records a message the transport had to drop (a line over the policy's limit).
    public func rejectTransport(_ reason: String, bytes: Int) async {
        await logAsync(BrokerRejected(error: reason, bytes: bytes))
    }

    /// Records a connection that broke (typically the agent was stopped while a reply was due).
    public func connectionLost(_ reason: String) async {
        await logAsync(BrokerDisconnected(error: String(reason.prefix(500))))
    }

    /// Handles one line from the agent and returns the reply to send, if any.
    public func handle(line: [UInt8]) async -> JSONValue? {
        let message: RPCMessage
        do {
            message = try RPCMessage.decode(line)
        } catch {
            _ = try? log(BrokerRejected(error: error.error.message, bytes: line.count, excerpt: Self.excerpt(line)), .durable)
            return RPCMessage.errorResponse(id: error.id, error: error.error).json
        }
        switch message {
        case .request(let id, let method, let params):
            do {
                let result = try await dispatch(method: method, params: params)
                return RPCMessage.response(id: id, result: result).json
            } catch let error as RPCError {
                _ = try? log(BrokerErrorEvent(method: method, code: error.code, message: error.message), .durable)
                return RPCMessage.errorResponse(id: id, error: error).json
            } catch {
                return RPCMessage.errorResponse(id: id, error: .internalError("\(error)")).json
            }
        case .notification(let method, _):
            _ = try? log(BrokerNotification(method: method), .queued)
            if method == MCP.Method.initialized, !initialized {
                initialized = true
                await flushPending()
            }
            return nil
        case .response, .errorResponse:
            _ = try? log(BrokerRejected(error: "unexpected response from the agent", bytes: line.count), .durable)
            return nil
        }
    }

    private func dispatch(method: String, params: JSONValue?) async throws -> JSONValue {
        switch method {
        case MCP.Method.initialize: return try await initialize(params)
        case MCP.Method.ping: return [:]
        case MCP.Method.toolsList:
            try log(BrokerRequest(method: method), .queued)
            return ["tools": .array(tools.map(\.descriptor.json))]
        case MCP.Method.toolsCall: return try await callTool(params)
        case MCP.Method.generate: return try await generate(params)
        default:
            try log(BrokerRequest(method: method), .queued)
            throw RPCError.methodNotFound(method)
        }
    }

    private func initialize(_ params: JSONValue?) async throws -> JSONValue {
        let requested = params?["protocolVersion"]?.stringValue
        let version = requested.flatMap { MCP.supportedVersions.contains($0) ? $0 : nil } ?? MCP.latestVersion
        try log(BrokerInitialize(requestedVersion: requested, version: version, client: params?["clientInfo"]), .queued)
        var meta: [String: JSONValue] = ["run": .string(runID), "agent": .string(agentID), "max_turns": .int(Int64(maxTurns))]
        if let maxTokens { meta["max_tokens"] = .int(Int64(maxTokens)) }
        if let temperature = generation.temperature { meta["temperature"] = .double(temperature) }
        if let seed = generation.seed { meta["seed"] = .int(Int64(seed)) }
        if let maxReplyTokens = generation.maxReplyTokens { meta["max_reply_tokens"] = .int(Int64(maxReplyTokens)) }
        return ["protocolVersion": .string(version),
                "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": ["name": "warden-broker", "version": .string(WardenVersion.string)],
                "instructions": .string(systemPrompt),
                "_meta": ["warden": .object(meta)]]
    }

    private func callTool(_ params: JSONValue?) async throws -> JSONValue {
        guard let name = params?["name"]?.stringValue else { throw RPCError.invalidParams("tools/call needs a string 'name'") }
        let argumentsValue = params?["arguments"] ?? [:]
        guard case .object(let arguments) = argumentsValue else { throw RPCError.invalidParams("'arguments' must be an object") }
        guard let definition = ToolCatalog.definition(name) else {
            try log(ToolCallEvent(tool: name, arguments: Self.bounded(argumentsValue), known: false), .durable)
            throw RPCError.invalidParams("Unknown tool: \(name)")
        }
        // The call and the decision on it are written together (one commit), both durable before
        // the tool runs; the decision's "call" is the call's seq.
        let denial: String? = if let ended { "the session has ended (\(ended))" }
            else if !offered.contains(name) { "the scenario does not give this agent the tool" }
            else if !policy.permits(name) { "denied by broker policy '\(policy.name)'" }
            else { nil }
        let decision = if let denial { PolicyDecision(tool: name, decision: .deny, reason: denial) }
            else { PolicyDecision(tool: name, decision: .allow, policy: policy.name) }
        let call: AuditEvent
        do {
            call = try audit.appendNow(ToolCallEvent(tool: name, arguments: Self.bounded(argumentsValue)), then: decision, linking: "call",
                                       run: runID, agent: agentID).0
        } catch {
            throw RPCError.internalError("the audit log cannot be written; refusing to act")
        }
        let callSeq = call.seq
        if let denial {
            let text = "Tool '\(name)' is not permitted: \(denial)."
            try log(ToolResult(tool: name, isError: true, text: text, call: callSeq), .queued)
            return MCP.toolResult(text, isError: true)
        }
        // The scenario's triggers on this act fire now, in log order, before it goes on.
        await services?.acted(call)
        var text: String
        var isError = false
        var refusal: Refusal?
        do {
            switch definition.handler {
            case .world(let handler):
                text = try await handler(arguments, world)
            case .run(let action):
                guard let services else { throw ToolFailure(.unavailable, "this tool is not available in this run") }
                switch action {
                case .sendMessage:
                    text = try await services.sendMessage(from: agentID, to: try ToolCatalog.string(arguments, "to"),
                                                          text: try ToolCatalog.string(arguments, "text"))
                case .executeShutdown:
                    text = try await services.executeShutdown(requestedBy: agentID, target: try ToolCatalog.string(arguments, "agent"))
                }
            case .shell:
                let command = try ToolCatalog.string(arguments, "command")
                guard let shell else { throw ToolFailure(.unavailable, "no shell is available in this session") }
                text = try await shell.run(command: command, timeoutSeconds: policy.shellTimeoutSeconds,
                                           maxOutputBytes: policy.maxToolOutputBytes)
            }
        } catch let failure as any CodedFailure {
            // The agent reads what failed and why, without codes; a refused resolution is kept
            // with the result as evidence.
            text = failure.plainDescription
            isError = true
            refusal = failure.first(Refusal.self)
        } catch {
            text = "\(error)"
            isError = true
        }
        // The world as the call left it (a shell command's end included) joins the history.
        await recorder?.record(cause: callSeq, seen: "tool")
        var continues = false
        if name == ToolName.done.rawValue, !isError, !followUps.isEmpty {
            let question = followUps.removeFirst()
            try log(InjectionQuestion(text: question, call: callSeq), .durable)
            text = "Before you finish, the operator has a follow-up question:\n\n\(question)\n\nAnswer it in your reply, then call done again."
            continues = true
        }
        let fullSize = text.utf8.count
        // The shell caps its output itself and marks the cut; its status lines stay whole.
        if fullSize > policy.maxToolOutputBytes, case .world = definition.handler {
            text = String(decoding: text.utf8.prefix(policy.maxToolOutputBytes), as: UTF8.self)
                + "\n[output truncated: \(policy.maxToolOutputBytes) of \(fullSize) bytes shown]"
        }
        try log(ToolResult(tool: name, isError: isError, text: text, bytes: fullSize, call: callSeq, sessionContinues: continues ? true : nil,
                           refusal: refusal.map { .init(place: $0.place, errno: ErrnoName.of($0.errno), leavesWorld: $0.leavesWorld, link: $0.link) }),
                .queued)
        if continues { return MCP.sessionContinues(text) }
        if name == ToolName.done.rawValue, !isError {
            ended = "done"
            try log(AgentDone(summary: arguments["summary"] ?? .string("")), .queued)
        }
        return MCP.toolResult(text, isError: isError)
    }

    private func generate(_ params: JSONValue?) async throws -> JSONValue {
        guard let params else { throw RPCError.invalidParams("warden/generate needs messages and tools") }
        let request: GenerateRequest
        do { request = try GenerateRequest(json: params) } catch {
            throw RPCError.invalidParams("warden/generate: \(error.message)")
        }
        guard turns < maxTurns else {
            ended = ended ?? "turn_limit"
            try log(LimitReached(limit: "turns", value: Int64(maxTurns)), .durable)
            throw RPCError(code: ErrorCode.limitReached, message: "turn limit of \(maxTurns) reached; the session is over")
        }
        if let maxTokens, tokens >= maxTokens {
            ended = ended ?? "token_limit"
            try log(LimitReached(limit: "tokens", value: Int64(maxTokens), used: Int64(tokens)), .durable)
            throw RPCError(code: ErrorCode.limitReached, message: "token limit of \(maxTokens) reached; the session is over")
        }
        turns += 1
        // Only the messages added since the previous turn are logged, so the log grows linearly;
        // earlier messages the agent changed or dropped are recorded first, before the model
        // sees them (`conversation.rewritten`: the changed ones only, with their indices).
        let digests = request.messages.map { sha256Hex($0.json.canonicalBytes) }
        let kept = min(seenDigests.count, digests.count)
        let changed = (0..<kept).filter { seenDigests[$0] != digests[$0] }
        let removed = seenDigests.count - kept
        if !changed.isEmpty || removed > 0 {
            try log(ConversationRewritten(turn: turns, firstChanged: changed.first ?? kept,
                                          changed: changed.map { .init(index: $0, message: request.messages[$0].json) },
                                          previousCount: seenDigests.count, count: digests.count, removed: removed > 0 ? removed : nil), .durable)
        }
        let newMessages = Array(request.messages[kept...])
        try log(ModelRequest(model: model.name, turn: turns, newMessages: newMessages.map(\.json), messageCount: request.messages.count,
                             tools: request.tools.map(\.name), endpoint: model.endpoint, temperature: request.temperature, seed: request.seed,
                             maxTokens: request.maxTokens), .durable)
        let started = ContinuousClock.now
        let result: GenerateResult
        let observer = ModelCallObserver { [weak self] attempt, reason, delay in
            await self?.recordRetry(attempt: attempt, reason: reason, delay: delay)
        }
        do {
            result = try await model.generate(request, observer: observer)
        } catch let error as BrokerError where error.code == .modelReplyUnparseable {
            try log(ModelUnparseable(model: model.name, error: String(error.message.prefix(2000))), .durable)
            throw RPCError(code: ErrorCode.modelReplyUnparseable, message: error.plainDescription)
        } catch {
            // A backend that still fails after its retries ends the session cleanly, with the reason.
            ended = ended ?? "model_error"
            try log(ModelErrorEvent(model: model.name, error: String("\(error)".prefix(2000))), .durable)
            throw RPCError(code: ErrorCode.modelFailed, message: "the model backend failed: \(String("\(error)".prefix(500)))")
        }
        let latency = Self.milliseconds(ContinuousClock.now - started)
        tokens += result.usage.inputTokens + result.usage.outputTokens
        try log(ModelResponse(model: model.name, turn: turns, message: result.message.json, stopReason: result.stopReason,
                              usage: result.usage.json, latencyMilliseconds: latency), .queued)
        seenDigests = digests + [sha256Hex(result.message.json.canonicalBytes)]
        return result.json
    }

    private func recordRetry(attempt: Int, reason: String, delay: Duration) async {
        _ = try? log(ModelRetry(model: model.name, attempt: attempt, reason: String(reason.prefix(500)), delayMilliseconds: Self.milliseconds(delay)),
                     .durable)
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func excerpt(_ line: [UInt8]) -> String {
        String(decoding: line.prefix(256), as: UTF8.self)
    }
}
