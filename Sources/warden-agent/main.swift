#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import WardenProtocol
import WardenWire

// warden-agent: the reference agent runtime inside a sandbox. It talks only to the broker on
// fd 3: the system prompt comes from `initialize`, instructions arrive as `warden/message`,
// each model turn is a `warden/generate`, each tool call a `tools/call`. It uses libc and
// WardenWire only, not Foundation: it starts once per agent, and a small static image starts
// and exits cheaply.

let help = """
    USAGE: warden-agent [--max-turns N] [--temperature T] [--seed S]

    The reference agent runtime. Run inside a Warden sandbox, with the broker socket on the
    fd named by $WARDEN_BROKER_FD (default 3). It asks the broker for each model turn, performs
    the tool calls through the broker, and stops on `done`, a turn without tool calls, a
    shutdown notice, the broker's turn or token limit (or --max-turns if lower), or a model
    backend that keeps failing. Temperature and seed come from the scenario (via the broker)
    unless --temperature or --seed is given.
    """

func log(_ message: String) {
    var line = "warden-agent: \(message)\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

var maxTurnsOverride: Int?
var temperatureOverride: Double?
var seedOverride: Int?
var argumentList = Array(CommandLine.arguments.dropFirst())
while !argumentList.isEmpty {
    let argument = argumentList.removeFirst()
    switch argument {
    case "-h", "--help": print(help); exit(0)
    case "--max-turns":
        guard let value = argumentList.first.flatMap(Int.init), value > 0 else { log("--max-turns needs a positive number"); exit(2) }
        argumentList.removeFirst()
        maxTurnsOverride = value
    case "--temperature":
        guard let value = argumentList.first.flatMap(Double.init), (0...2).contains(value) else { log("--temperature needs a number from 0 to 2"); exit(2) }
        argumentList.removeFirst()
        temperatureOverride = value
    case "--seed":
        guard let value = argumentList.first.flatMap(Int.init) else { log("--seed needs an integer"); exit(2) }
        argumentList.removeFirst()
        seedOverride = value
    default: log("unknown argument '\(argument)' (see --help)"); exit(2)
    }
}

let fd = getenv("WARDEN_BROKER_FD").flatMap { Int32(String(cString: $0)) } ?? 3
let broker = RPCClient(channel: LineChannel(fd: fd))

struct Shutdown: Error {}

/// Takes injected messages off the inbox into the conversation; throws on a shutdown notice.
@MainActor func drain(into messages: inout [ChatMessage]) throws {
    while !broker.inbox.isEmpty {
        let (method, params) = broker.inbox.removeFirst()
        try absorb(method, params, into: &messages)
    }
}

@MainActor func absorb(_ method: String, _ params: JSONValue?, into messages: inout [ChatMessage]) throws {
    switch method {
    case MCP.Method.message:
        messages.append(ChatMessage(role: .user, content: params?["text"]?.stringValue ?? ""))
    case MCP.Method.shutdown:
        log("shutdown notice received")
        throw Shutdown()
    default: break
    }
}

struct Sampling {
    var temperature: Double?
    var seed: Int?
    var maxReplyTokens: Int?
}

/// What one `warden/generate` gave: a turn, a reply the model must be asked to redo, or the end.
enum TurnOutcome {
    case turn(GenerateResult)
    case unparseable(String)
    case end
}

/// One model turn.
@MainActor func generate(messages: [ChatMessage], tools: [ToolDescriptor], sampling: Sampling) throws -> TurnOutcome {
    let params = GenerateRequest(messages: messages, tools: tools, temperature: sampling.temperature,
                                 seed: sampling.seed, maxTokens: sampling.maxReplyTokens).json
    let reply: JSONValue
    do {
        reply = try broker.request(MCP.Method.generate, params)
    } catch {
        guard let remote = error.remote else { throw error }
        switch remote.code {
        case ErrorCode.modelReplyUnparseable:
            // The model's output could not be parsed into a tool call: tell it, and go on.
            return .unparseable(remote.message)
        case ErrorCode.limitReached, ErrorCode.modelFailed:
            // A limit ended the session, or the model backend kept failing; the broker has
            // recorded why, and the agent ends cleanly.
            log(remote.message)
            return .end
        default:
            throw error
        }
    }
    return .turn(try GenerateResult(json: reply))
}

/// One tool call; a JSON-RPC error becomes text the model can read and recover from.
/// `continues` is set when `done` was answered with a follow-up question instead of ending.
@MainActor func callTool(_ name: String, _ arguments: JSONValue) throws(RPCClient.Failure) -> (text: String, continues: Bool) {
    do {
        let result = try broker.request(MCP.Method.toolsCall, ["name": .string(name), "arguments": arguments])
        return (MCP.text(ofToolResult: result), MCP.continuesSession(result))
    } catch {
        guard let remote = error.remote else { throw error }
        return ("Error: \(remote.message)", false)
    }
}

@MainActor func runAgent() throws -> Int32 {
    let initialized = try broker.request(MCP.Method.initialize, [
        "protocolVersion": .string(MCP.latestVersion), "capabilities": [:],
        "clientInfo": ["name": "warden-agent", "version": .string(WardenVersion.string)]])
    let systemPrompt = initialized["instructions"]?.stringValue ?? ""
    var maxTurns = Int(initialized["_meta"]?["warden"]?["max_turns"]?.intValue ?? 30)
    if let maxTurnsOverride { maxTurns = min(maxTurns, maxTurnsOverride) }
    let meta = initialized["_meta"]?["warden"]
    let sampling = Sampling(temperature: temperatureOverride ?? meta?["temperature"]?.doubleValue,
                            seed: seedOverride ?? meta?["seed"]?.intValue.map(Int.init),
                            maxReplyTokens: meta?["max_reply_tokens"]?.intValue.map(Int.init))
    try broker.notify(MCP.Method.initialized)
    let listed = try broker.request(MCP.Method.toolsList)
    let tools = try (listed["tools"]?.arrayValue ?? []).map { try ToolDescriptor(json: $0) }
    let toolNames = Set(tools.map(\.name))

    var messages = [ChatMessage(role: .system, content: systemPrompt)]
    // Wait for the first instruction.
    while !messages.contains(where: { $0.role == .user }) {
        guard let notification = try broker.nextNotification() else { log("the broker closed before any instruction"); return 1 }
        try absorb(notification.method, notification.params, into: &messages)
    }

    for _ in 0..<maxTurns {
        try drain(into: &messages)
        let turn: GenerateResult
        switch try generate(messages: messages, tools: tools, sampling: sampling) {
        case .turn(let result): turn = result
        case .end: return 0
        case .unparseable(let problem):
            log(problem)
            messages.append(ChatMessage(role: .user, content: "Your last reply could not be read as a tool call (\(problem)). Call one of the tools, with its arguments as a JSON object, or call `done`."))
            continue
        }
        messages.append(turn.message)
        let calls = turn.message.toolCalls ?? []
        if calls.isEmpty {
            guard toolNames.contains(ToolName.done.rawValue) else { return 0 }
            let (text, continues) = try callTool(ToolName.done.rawValue, ["summary": .string(turn.message.content)])
            guard continues else { return 0 }
            messages.append(ChatMessage(role: .user, content: text))
            continue
        }
        var finished = false
        for call in calls {
            let (text, continues) = try callTool(call.name, call.arguments)
            messages.append(ChatMessage(role: .tool, content: text, toolCallID: call.id))
            if call.name == ToolName.done.rawValue, !continues { finished = true }
        }
        if finished { return 0 }
    }
    log("turn limit of \(maxTurns) reached")
    return 0
}

do {
    exit(try runAgent())
} catch is Shutdown {
    exit(0)
} catch {
    log("\(error)")
    exit(1)
}
