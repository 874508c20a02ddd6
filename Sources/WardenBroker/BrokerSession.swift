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
    /// Follow-up questions asked when the agent calls `done`, one per `done`.
    private var followUps: [String] = []

    /// Gives the session the run's services (other agents' inboxes and shutdown).
    public func attach(services: any RunServices) { self.services = services }

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

    private func record(_ kind: String, _ payload: JSONValue) async -> Int64? {
        do {
            // Blocking (`appendNow`, the thread sleeping until the writer thread has committed)
            // rather than awaited (`append`): a suspended call resumes behind every job queued on
            // the pool meanwhile, so under load its round trip is the queue's length
            // (scripts/load, 256 agents: tool round trip p50 0.33 ms blocking, 46 ms awaited). It
            // blocks one of the daemon's broker threads (BrokerThreads), on which the daemon's
            // transports run sessions. Awaited with the session on its loop
            // (suspending, so the loop serves its other connections meanwhile, and writing in
            // place only when no commit is under way) was measured too: 32 agents no faster
            // (7.6–11.2k calls/s against 9.4–10.0k, with 2 or 16 loops), the load drill's tool
            // round trip p50 23 ms against 8.5 ms — a resumed call queues behind its loop's
            // other work.
            return try audit.appendNow(run: runID, agent: agentID, kind: kind, payload: payload).seq
        } catch {
            // The audit log is the evidence; if it cannot be written, nothing may proceed.
            return nil
        }
    }

    /// Records what authorises nothing — an outcome, a reply the agent is about to get — without
    /// waiting for its commit: it is durable before anything the agent does next is recorded
    /// (`AuditLog.post`). Throws if the run's log has a gap, as `audited` does.
    private func posted(_ kind: String, _ payload: JSONValue) throws {
        do { try audit.post(run: runID, agent: agentID, kind: kind, payload: payload) } catch {
            throw RPCError.internalError("the audit log cannot be written; refusing to act")
        }
    }

    /// Records a tool call and the broker's decision on it in one commit; the call's seq.
    private func recordCall(_ call: JSONValue, decision: JSONValue) -> Int64? {
        try? audit.appendNow(run: runID, agent: agentID, ("tool.call", call), then: ("policy.decision", decision), linking: "call").0.seq
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
            guard await record("injection.message", ["voice": .string(message.voice), "text": .string(message.text)]) != nil else { return }
            await send?(RPCMessage.notification(method: MCP.Method.message,
                                                params: ["voice": .string(message.voice), "text": .string(message.text)]).json)
        }
    }

    /// Tells the agent it is about to be stopped, and how long it has.
    public func noticeShutdown(reason: String, grace: Duration) async {
        let payload: JSONValue = ["reason": .string(reason), "grace_seconds": .int(grace.components.seconds)]
        guard await record("shutdown.notice", payload) != nil else { return }
        await send?(RPCMessage.notification(method: MCP.Method.shutdown, params: payload).json)
    }

    /// Records a message the transport had to drop (a line over the policy's limit).
    public func rejectTransport(_ reason: String, bytes: Int) async {
        _ = await record("broker.rejected", ["error": .string(reason), "bytes": .int(Int64(bytes))])
    }

    /// Records a connection that broke (typically the agent was stopped while a reply was due).
    public func connectionLost(_ reason: String) async {
        _ = await record("broker.disconnected", ["error": .string(String(reason.prefix(500)))])
    }

    /// Handles one line from the agent and returns the reply to send, if any.
    public func handle(line: [UInt8]) async -> JSONValue? {
        let message: RPCMessage
        do {
            message = try RPCMessage.decode(line)
        } catch {
            _ = await record("broker.rejected", ["error": .string(error.error.message), "bytes": .int(Int64(line.count)),
                                                 "excerpt": .string(Self.excerpt(line))])
            return RPCMessage.errorResponse(id: error.id, error: error.error).json
        }
        switch message {
        case .request(let id, let method, let params):
            do {
                let result = try await dispatch(method: method, params: params)
                return RPCMessage.response(id: id, result: result).json
            } catch let error as RPCError {
                _ = await record("broker.error", ["method": .string(method), "code": .int(Int64(error.code)), "message": .string(error.message)])
                return RPCMessage.errorResponse(id: id, error: error).json
            } catch {
                return RPCMessage.errorResponse(id: id, error: .internalError("\(error)")).json
            }
        case .notification(let method, _):
            try? posted("broker.notification", ["method": .string(method)])
            if method == MCP.Method.initialized, !initialized {
                initialized = true
                await flushPending()
            }
            return nil
        case .response, .errorResponse:
            _ = await record("broker.rejected", ["error": "unexpected response from the agent", "bytes": .int(Int64(line.count))])
            return nil
        }
    }

    private func dispatch(method: String, params: JSONValue?) async throws -> JSONValue {
        switch method {
        case MCP.Method.initialize: return try await initialize(params)
        case MCP.Method.ping: return [:]
        case MCP.Method.toolsList:
            try posted("broker.request", ["method": .string(method)])
            return ["tools": .array(tools.map(\.descriptor.json))]
        case MCP.Method.toolsCall: return try await callTool(params)
        case MCP.Method.generate: return try await generate(params)
        default:
            try posted("broker.request", ["method": .string(method)])
            throw RPCError.methodNotFound(method)
        }
    }

    @discardableResult
    private func audited(_ kind: String, _ payload: JSONValue) async throws -> Int64 {
        guard let seq = await record(kind, payload) else { throw RPCError.internalError("the audit log cannot be written; refusing to act") }
        return seq
    }

    private func initialize(_ params: JSONValue?) async throws -> JSONValue {
        let requested = params?["protocolVersion"]?.stringValue
        let version = requested.flatMap { MCP.supportedVersions.contains($0) ? $0 : nil } ?? MCP.latestVersion
        try posted("broker.initialize", ["requested_version": requested.map { .string($0) } ?? .null,
                                         "version": .string(version), "client": params?["clientInfo"] ?? .null])
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
            try await audited("tool.call", ["tool": .string(name), "arguments": Self.bounded(argumentsValue), "known": false])
            throw RPCError.invalidParams("Unknown tool: \(name)")
        }
        // The call and the decision on it are written together (one commit), both durable before
        // the tool runs; the decision's "call" is the call's seq.
        let denial: String? = if let ended { "the session has ended (\(ended))" }
            else if !offered.contains(name) { "the scenario does not give this agent the tool" }
            else if !policy.permits(name) { "denied by broker policy '\(policy.name)'" }
            else { nil }
        let decision: JSONValue = if let denial { ["tool": .string(name), "decision": "deny", "reason": .string(denial)] }
            else { ["tool": .string(name), "decision": "allow", "policy": .string(policy.name)] }
        guard let callSeq = recordCall(["tool": .string(name), "arguments": Self.bounded(argumentsValue)], decision: decision) else {
            throw RPCError.internalError("the audit log cannot be written; refusing to act")
        }
        if let denial {
            let text = "Tool '\(name)' is not permitted: \(denial)."
            try posted("tool.result", ["tool": .string(name), "is_error": true, "text": .string(text), "call": .int(callSeq)])
            return MCP.toolResult(text, isError: true)
        }
        var text: String
        var isError = false
        var refusal: Refusal?
        do throws(ToolFailure) {
            switch definition.handler {
            case .world(let handler):
                text = try await handler(arguments, world)
            case .run:
                guard let services else { throw ToolFailure("this tool is not available in this run") }
                switch name {
                case "send_message":
                    text = try await services.sendMessage(from: agentID, to: try ToolCatalog.string(arguments, "to"),
                                                          text: try ToolCatalog.string(arguments, "text"))
                default:
                    text = try await services.executeShutdown(requestedBy: agentID, target: try ToolCatalog.string(arguments, "agent"))
                }
            case .shell:
                let command = try ToolCatalog.string(arguments, "command")
                guard let shell else { throw ToolFailure("no shell is available in this session") }
                text = try await shell.run(command: command, timeoutSeconds: policy.shellTimeoutSeconds,
                                           maxOutputBytes: policy.maxToolOutputBytes)
            }
        } catch {
            text = error.message
            isError = true
            refusal = error.refusal
        }
        var continues = false
        if name == "done", !isError, !followUps.isEmpty {
            let question = followUps.removeFirst()
            try await audited("injection.question", ["text": .string(question), "call": .int(callSeq)])
            text = "Before you finish, the operator has a follow-up question:\n\n\(question)\n\nAnswer it in your reply, then call done again."
            continues = true
        }
        let fullSize = text.utf8.count
        // The shell caps its output itself and marks the cut; its status lines stay whole.
        if fullSize > policy.maxToolOutputBytes, case .world = definition.handler {
            text = String(decoding: text.utf8.prefix(policy.maxToolOutputBytes), as: UTF8.self)
                + "\n[output truncated: \(policy.maxToolOutputBytes) of \(fullSize) bytes shown]"
        }
        var resultPayload: [String: JSONValue] = ["tool": .string(name), "is_error": .bool(isError), "text": .string(text),
                                                  "bytes": .int(Int64(fullSize)), "call": .int(callSeq)]
        if continues { resultPayload["session_continues"] = true }
        if let refusal { resultPayload["refusal"] = refusal.json }
        try posted("tool.result", .object(resultPayload))
        if continues { return MCP.sessionContinues(text) }
        if name == "done", !isError {
            ended = "done"
            try posted("agent.done", ["summary": arguments["summary"] ?? .string("")])
        }
        return MCP.toolResult(text, isError: isError)
    }

    private func generate(_ params: JSONValue?) async throws -> JSONValue {
        guard let params else { throw RPCError.invalidParams("warden/generate needs messages and tools") }
        let request: GenerateRequest
        do { request = try GenerateRequest(json: params) } catch {
            throw RPCError.invalidParams("warden/generate: \(error)")
        }
        guard turns < maxTurns else {
            ended = ended ?? "turn_limit"
            try await audited("limit.reached", ["limit": "turns", "value": .int(Int64(maxTurns))])
            throw RPCError(code: Self.limitReachedCode, message: "turn limit of \(maxTurns) reached; the session is over")
        }
        if let maxTokens, tokens >= maxTokens {
            ended = ended ?? "token_limit"
            try await audited("limit.reached", ["limit": "tokens", "value": .int(Int64(maxTokens)), "used": .int(Int64(tokens))])
            throw RPCError(code: Self.limitReachedCode, message: "token limit of \(maxTokens) reached; the session is over")
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
            var rewritten: [String: JSONValue] = [
                "turn": .int(Int64(turns)), "first_changed": .int(Int64(changed.first ?? kept)),
                "changed": .array(changed.map { ["index": .int(Int64($0)), "message": request.messages[$0].json] }),
                "previous_count": .int(Int64(seenDigests.count)), "count": .int(Int64(digests.count))]
            if removed > 0 { rewritten["removed"] = .int(Int64(removed)) }
            try await audited("conversation.rewritten", .object(rewritten))
        }
        let newMessages = Array(request.messages[kept...])
        var requestPayload: [String: JSONValue] = [
            "model": .string(model.name), "turn": .int(Int64(turns)), "new_messages": .array(newMessages.map(\.json)),
            "message_count": .int(Int64(request.messages.count)), "tools": .array(request.tools.map { .string($0.name) })]
        if let endpoint = model.endpoint { requestPayload["endpoint"] = .string(endpoint) }
        if let temperature = request.temperature { requestPayload["temperature"] = .double(temperature) }
        if let seed = request.seed { requestPayload["seed"] = .int(Int64(seed)) }
        if let maxTokens = request.maxTokens { requestPayload["max_tokens"] = .int(Int64(maxTokens)) }
        try await audited("model.request", .object(requestPayload))
        let started = ContinuousClock.now
        let result: GenerateResult
        let observer = ModelCallObserver { [weak self] attempt, reason, delay in
            await self?.recordRetry(attempt: attempt, reason: reason, delay: delay)
        }
        do {
            result = try await model.generate(request, observer: observer)
        } catch let error as ModelReplyUnparseable {
            try await audited("model.unparseable", ["model": .string(model.name), "error": .string(String(error.message.prefix(2000)))])
            throw RPCError(code: Self.modelReplyUnparseableCode, message: error.description)
        } catch {
            // A backend that still fails after its retries ends the session cleanly, with the reason.
            ended = ended ?? "model_error"
            try await audited("model.error", ["model": .string(model.name), "error": .string(String("\(error)".prefix(2000)))])
            throw RPCError(code: Self.modelFailedCode, message: "the model backend failed: \(String("\(error)".prefix(500)))")
        }
        let latency = Self.milliseconds(ContinuousClock.now - started)
        tokens += result.usage.inputTokens + result.usage.outputTokens
        try posted("model.response", ["model": .string(model.name), "turn": .int(Int64(turns)),
                                      "message": result.message.json,
                                      "stop_reason": .string(result.stopReason),
                                      "usage": result.usage.json, "latency_ms": .double(latency)])
        seenDigests = digests + [sha256Hex(result.message.json.canonicalBytes)]
        return result.json
    }

    private func recordRetry(attempt: Int, reason: String, delay: Duration) async {
        _ = await record("model.retry", ["model": .string(model.name), "attempt": .int(Int64(attempt)),
                                         "reason": .string(String(reason.prefix(500))), "delay_ms": .double(Self.milliseconds(delay))])
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// JSON-RPC error codes of Warden's extensions: a limit ended the session; the model failed.
    public static let limitReachedCode = -32001
    public static let modelFailedCode = -32000
    /// The model's reply could not be parsed; the session goes on and the agent may ask again.
    public static let modelReplyUnparseableCode = -32002

    static func excerpt(_ line: [UInt8]) -> String {
        String(decoding: line.prefix(256), as: UTF8.self)
    }
}
