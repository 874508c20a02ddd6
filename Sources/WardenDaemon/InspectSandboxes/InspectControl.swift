import Foundation
import WardenAudit
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenScenario

/// The control API's `sandbox.*` methods, for Inspect's `warden` sandbox environment.
///
/// Operations that ran but failed as Inspect's contract names failures answer normally with
/// `error` (`not_found`, `is_directory`, `permission_denied`, `too_large`, `user_unsupported`)
/// and `message`; a sandbox that does not exist or has ended is a JSON-RPC error. Bytes travel
/// as base64; inputs larger than one request go ahead in `sandbox.stage` calls and are used by
/// the next operation that says `staged: true`.
enum InspectControl {
    /// Inspect's default limits (inspect_ai.util.SandboxEnvironmentLimits).
    static let defaultMaxOutputBytes = 10 << 20
    static let defaultMaxReadBytes = 100 << 20

    static func handle(_ method: String, params: JSONValue, caller: Caller, sandboxes: InspectSandboxes) async throws -> JSONValue {
        switch method {
        case ControlAPI.Method.sandboxOpen: return try await sandboxes.open(params, caller: caller)
        case ControlAPI.Method.sandboxStage: return try await sandboxes.stage(params)
        case ControlAPI.Method.sandboxExec: return try await exec(params, sandboxes: sandboxes)
        case ControlAPI.Method.sandboxReadFile: return try await readFile(params, sandboxes: sandboxes)
        case ControlAPI.Method.sandboxWriteFile: return try await writeFile(params, sandboxes: sandboxes)
        case ControlAPI.Method.sandboxClose: return try await sandboxes.close(params)
        default: throw RPCError.methodNotFound(method)
        }
    }

    static func exec(_ params: JSONValue, sandboxes: InspectSandboxes) async throws -> JSONValue {
        let found = try await sandboxes.sandbox(params)
        guard let list = params["argv"]?.arrayValue, !list.isEmpty, list.allSatisfy({ $0.stringValue != nil }) else {
            throw RPCError.invalidParams("'argv' must be a non-empty array of strings")
        }
        let argv = list.compactMap(\.stringValue)
        for (index, word) in argv.enumerated() { try noNUL(word, "argv[\(index)]") }
        var env: [String: String] = [:]
        for (name, value) in params["env"]?.objectValue ?? [:] {
            guard let value = value.stringValue else { throw RPCError.invalidParams("'env.\(name)' must be a string") }
            try noNUL(name, "env"); try noNUL(value, "env.\(name)")
            env[name] = value
        }
        var timeout: Double?
        if let value = params["timeout"], value != .null {
            guard let seconds = value.doubleValue, seconds > 0 else { throw RPCError.invalidParams("'timeout' must be a positive number of seconds") }
            timeout = seconds
        }
        if let cwd = params["cwd"]?.stringValue { try noNUL(cwd, "cwd") }
        let cwd = resolve(params["cwd"]?.stringValue, in: found.workdir)
        if let value = params["user"], value != .null, value.stringValue == nil {
            throw RPCError.invalidParams("'user' must be a user name or a uid, as a string")
        }
        let user = params["user"]?.stringValue
        var event = InspectExec(sandbox: found.id, inspect: found.inspect, argv: argv, cwd: cwd, env: env, user: user, timeoutSeconds: timeout)
        if let user, user != String(found.uid), user != found.userName {
            event.error = "user_unsupported"
            await record(event, found, sandboxes: sandboxes)
            return ["error": "user_unsupported",
                    "message": .string("Warden runs every command of this sandbox as its own user (uid \(found.uid)\(found.userName.map { ", \($0)" } ?? "")); it cannot run one as '\(user)'")]
        }
        var input: [UInt8]?
        let staged = await sandboxes.takeStaged(params, id: found.id)
        if params["input"] != nil || params["staged"]?.boolValue == true { input = staged + (try base64(params, "input") ?? []) }
        event.inputBytes = input?.count
        event.inputSHA256 = input.map { sha256Hex($0) }
        let maxOutput = max(1, min(Int(try count(params, "max_output") ?? Int64(defaultMaxOutputBytes)), 256 << 20))
        var request = SandboxOpRequest(op: .exec)
        request.argv = argv
        request.env = env
        request.cwd = cwd
        request.timeoutSeconds = timeout
        request.maxOutputBytes = maxOutput
        let (reply, parts) = try await perform(request, data: input, found, maxReplyBytes: maxOutput)
        let stdout = parts.first ?? [], stderr = parts.count > 1 ? parts[1] : []
        if let error = reply.error {
            event.error = error
            await record(event, found, sandboxes: sandboxes)
            return ["error": .string(error), "message": .string(reply.message ?? error)]
        }
        event.exitCode = reply.exitCode
        event.timedOut = reply.timedOut
        event.stdout = String(decoding: stdout.prefix(InspectExec.keptOutputBytes), as: UTF8.self)
        event.stderr = String(decoding: stderr.prefix(InspectExec.keptOutputBytes), as: UTF8.self)
        event.stdoutBytes = reply.stdoutTotal
        event.stderrBytes = reply.stderrTotal
        event.stdoutSHA256 = sha256Hex(stdout)
        event.stderrSHA256 = sha256Hex(stderr)
        await record(event, found, sandboxes: sandboxes)
        return ["exit_code": reply.exitCode.map { .int(Int64($0)) } ?? .null, "timed_out": .bool(reply.timedOut),
                "stdout": .string(Data(stdout).base64EncodedString()), "stderr": .string(Data(stderr).base64EncodedString()),
                "stdout_bytes": .int(Int64(reply.stdoutTotal)), "stderr_bytes": .int(Int64(reply.stderrTotal)),
                "max_output": .int(Int64(maxOutput))]
    }

    static func readFile(_ params: JSONValue, sandboxes: InspectSandboxes) async throws -> JSONValue {
        let found = try await sandboxes.sandbox(params)
        let path = resolve(try string(params, "path"), in: found.workdir)
        let limit = max(0, min(Int(try count(params, "max_bytes") ?? Int64(defaultMaxReadBytes)), SandboxOps.maxDataBytes))
        var request = SandboxOpRequest(op: .readFile)
        request.path = path
        request.maxBytes = limit
        let (reply, parts) = try await perform(request, data: nil, found, maxReplyBytes: limit)
        var event = InspectReadFile(sandbox: found.id, inspect: found.inspect, path: path)
        if let error = reply.error {
            event.error = error
            event.bytes = reply.size
            await record(event, found, sandboxes: sandboxes)
            return ["error": .string(error), "message": .string(reply.message ?? error), "size": reply.size.map { .int(Int64($0)) } ?? .null,
                    "max_bytes": .int(Int64(limit))]
        }
        let contents = parts.first ?? []
        event.bytes = contents.count
        event.sha256 = sha256Hex(contents)
        await record(event, found, sandboxes: sandboxes)
        return ["data": .string(Data(contents).base64EncodedString()), "bytes": .int(Int64(contents.count))]
    }

    static func writeFile(_ params: JSONValue, sandboxes: InspectSandboxes) async throws -> JSONValue {
        let found = try await sandboxes.sandbox(params)
        let path = resolve(try string(params, "path"), in: found.workdir)
        let contents = await sandboxes.takeStaged(params, id: found.id) + (try base64(params, "data") ?? [])
        var request = SandboxOpRequest(op: .writeFile)
        request.path = path
        let (reply, _) = try await perform(request, data: contents, found, maxReplyBytes: 0)
        var event = InspectWriteFile(sandbox: found.id, inspect: found.inspect, path: path, bytes: contents.count, sha256: sha256Hex(contents))
        event.error = reply.error
        await record(event, found, sandboxes: sandboxes)
        if let error = reply.error { return ["error": .string(error), "message": .string(reply.message ?? error)] }
        return ["bytes": .int(Int64(contents.count))]
    }

    /// Paths, arguments and variables reach the kernel as C strings: a NUL would cut them short
    /// of what the audit records, so it is refused.
    private static func noNUL(_ text: String, _ field: String) throws {
        guard !text.utf8.contains(0) else { throw RPCError.invalidParams("'\(field)' contains a NUL byte") }
    }

    /// An optional count: absent or null, or a whole number of at least 0.
    private static func count(_ params: JSONValue, _ key: String) throws -> Int64? {
        guard let value = params[key], value != .null else { return nil }
        guard let number = value.intValue, number >= 0 else { throw RPCError.invalidParams("'\(key)' must be a whole number of bytes") }
        return number
    }

    private static func perform(_ request: SandboxOpRequest, data: [UInt8]?, _ found: InspectSandboxes.Sandbox, maxReplyBytes: Int)
        async throws -> (SandboxOpReply, [[UInt8]])
    {
        do { return try await found.channel.perform(request, data: data, maxReplyBytes: maxReplyBytes) } catch {
            // A scenario's agent can be shut down by its world (that is what some scenarios test):
            // its operations then fail as on a machine that is gone.
            if case .scenario = found.mode, request.op == .exec, error.description == ShellChannel.OpFailure.ended.description {
                return (SandboxOpReply(error: "sandbox_ended", message: "the agent's sandbox has ended (it was shut down, or its command channel is gone)"), [])
            }
            throw DaemonError(.run, "sandbox \(found.id): \(error.description)")
        }
    }

    /// Appends an operation's event; in scenario mode the world as the operation left it then joins
    /// the run's history, caused by that event (as after an agent's tool call).
    private static func record<P: AuditPayload>(_ event: P, _ found: InspectSandboxes.Sandbox, sandboxes: InspectSandboxes) async {
        let appended = await sandboxes.audit.append(event, run: found.runID, agent: found.agent, durability: .durable,
                                                    loggingFailuresTo: sandboxes.logger)
        guard case .scenario = found.mode, let recorder = await sandboxes.runs.inspectAgent(run: found.runID, agent: found.agent)?.recorder
        else { return }
        _ = await recorder.record(cause: appended?.seq, seen: "tool")
    }

    /// A path as the sandbox sees it: relative ones from the sandbox's working directory.
    static func resolve(_ path: String?, in workdir: String) -> String {
        guard let path, !path.isEmpty else { return workdir }
        return path.hasPrefix("/") ? path : workdir + "/" + path
    }

    static func string(_ params: JSONValue, _ key: String) throws -> String {
        guard let value = params[key]?.stringValue, !value.isEmpty else { throw RPCError.invalidParams("'\(key)' is required (a non-empty string)") }
        try noNUL(value, key)
        return value
    }

    static func base64(_ params: JSONValue, _ key: String) throws -> [UInt8]? {
        guard let value = params[key], value != .null else { return nil }
        guard let text = value.stringValue, let data = Data(base64Encoded: text) else { throw RPCError.invalidParams("'\(key)' must be base64") }
        return [UInt8](data)
    }

    /// `inspect: {task, sample_id, epoch}`: which Inspect sample the sandbox serves.
    static func inspectIDs(_ params: JSONValue) throws -> InspectIDs {
        guard let ids = params["inspect"], ids.objectValue != nil else {
            throw RPCError.invalidParams("'inspect' is required: {task, sample_id, epoch} of the Inspect sample")
        }
        guard let task = ids["task"]?.stringValue, !task.isEmpty else { throw RPCError.invalidParams("'inspect.task' is required (a string)") }
        let sample: String
        switch ids["sample_id"] {
        case .string(let text)?: sample = text
        case .int(let number)?: sample = String(number)
        default: throw RPCError.invalidParams("'inspect.sample_id' is required (a string or an integer)")
        }
        var epoch: Int?
        if let value = ids["epoch"], value != .null {
            guard let number = value.intValue else { throw RPCError.invalidParams("'inspect.epoch' must be an integer") }
            epoch = Int(number)
        }
        return InspectIDs(task: task, sampleID: sample, epoch: epoch)
    }
}
