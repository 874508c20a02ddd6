import CWardenLinux
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WardenAudit
import WardenBroker
import WardenCore
import WardenProtocol

/// The control API on the Unix socket: one JSON-RPC request per line from `wardenctl`.
/// Every request is audited with the caller's uid, gid and pid (SO_PEERCRED).
struct ControlServer: Sendable {
    let runs: RunRegistry
    let suites: SuiteScheduler
    let audit: AuditLog
    let keys: SigningKeys
    let refusals: RefusalLedger
    let logger: Logger
    let startedAt: ContinuousClock.Instant
    let access: ControlAccess
    let inspect: InspectSandboxes
    static let maxRequestBytes = ControlAPI.maxRequestBytes

    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        guard let caller = await Self.peerCredentials(connection.channel) else {
            // The peer left before it could be identified (a readiness probe, say): nothing to serve.
            if connection.channel.isActive {
                await record(ControlRefused(caller: nil, error: "peer credentials unavailable"))
            }
            try? await connection.channel.close()
            return
        }
        guard access.allows(caller) else {
            let (individually, summaries) = refusals.note(uid: caller.uid, pid: caller.pid)
            for summary in summaries { await record(summary) }
            if individually { await record(ControlRefused(caller: caller)) }
            let refusal = RPCMessage.errorResponse(id: .null, error: RPCError(code: ErrorCode.permissionDenied, message: access.refusal(caller)))
            try? await connection.executeThenClose { _, outbound in try await outbound.write(ByteBuffer(line: refusal.json.canonicalBytes)) }
            return
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                do {
                    for try await frame in inbound {
                        let send: @Sendable (JSONValue) async throws -> Void = { value in
                            try await outbound.write(ByteBuffer(line: value.canonicalBytes))
                        }
                        let reply = await handle(Array(frame.readableBytesView), caller: caller, send: send)
                        try await send(reply)
                    }
                } catch is LineFrameDecoder.LineTooLong {
                    // Said before the connection closes, so a client that still reads learns why.
                    let error = RPCError(code: ErrorCode.invalidRequest, message: "request too large (limit \(Self.maxRequestBytes >> 20) MiB)")
                    try? await outbound.write(ByteBuffer(line: RPCMessage.errorResponse(id: .null, error: error).json.canonicalBytes))
                }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    static func peerCredentials(_ channel: any Channel) async -> Caller? {
        guard let provider = channel as? any SocketOptionProvider,
              let credentials: PeerCredentials = try? await provider.unsafeGetSocketOption(
                  level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        else { return nil }
        return Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
    }

    /// The layout of Linux's `struct ucred`, which Swift's Glibc module hides behind _GNU_SOURCE.
    struct PeerCredentials: Sendable {
        var pid: Int32
        var uid: UInt32
        var gid: UInt32
    }

    /// Control events are recorded outside any run, so reading a run's log does not change it.
    private func record<P: AuditPayload>(_ payload: P) async {
        await audit.append(payload, run: "", durability: .durable, loggingFailuresTo: logger)
    }

    func handle(_ line: [UInt8], caller: Caller, send: @escaping @Sendable (JSONValue) async throws -> Void) async -> JSONValue {
        let message: RPCMessage
        do { message = try RPCMessage.decode(line) } catch {
            await record(ControlRejected(error: error.error.message, caller: caller, bytes: line.count))
            return RPCMessage.errorResponse(id: error.id, error: error.error).json
        }
        guard case .request(let id, let method, let params) = message else {
            return RPCMessage.errorResponse(id: .null, error: .invalidRequest("expected a request with an id")).json
        }
        do {
            // Recorded outside any run, so reading a run's log does not change it; the run asked
            // about is in the payload.
            // An Inspect sandbox's operations name it as `sandbox` (its id is its run's).
            let request = ControlRequest(method: method, caller: caller, targetRun: params?["run"]?.stringValue ?? params?["sandbox"]?.stringValue)
            try await audit.append(request, run: "", durability: .durable)
        } catch {
            return RPCMessage.errorResponse(id: id, error: .internalError("the audit log cannot be written: \(error)")).json
        }
        do {
            let result = try await dispatch(method, params: params ?? [:], caller: caller, send: send)
            return RPCMessage.response(id: id, result: result).json
        } catch let error as RPCError {
            return RPCMessage.errorResponse(id: id, error: error).json
        } catch let error as any CodedFailure {
            // `data.code` is the outermost code; `data.codes` every code down through the causes.
            let data: JSONValue = ["code": .string(error.codeName), "codes": .array(error.codes.map { .string($0) })]
            return RPCMessage.errorResponse(id: id, error: RPCError(code: ErrorCode.daemonFailure, message: error.plainDescription, data: data)).json
        } catch {
            return RPCMessage.errorResponse(id: id, error: RPCError(code: ErrorCode.daemonFailure, message: "\(error)")).json
        }
    }

    private func dispatch(_ method: String, params: JSONValue, caller: Caller,
                          send: @escaping @Sendable (JSONValue) async throws -> Void) async throws -> JSONValue {
        switch method {
        case ControlAPI.Method.status:
            let elapsed = ContinuousClock.now - startedAt
            let size = audit.size()
            return ["version": .string(WardenVersion.string), "protocol": .int(Int64(ControlAPI.protocolVersion)), "pid": .int(Int64(getpid())),
                    "uptime_seconds": .int(elapsed.components.seconds), "active_runs": .array(await runs.activeRuns.map { .string($0) }),
                    "completed_runs": .int(Int64(await runs.completedRuns)), "active_agents": .int(Int64(await runs.activeAgents)),
                    "audit_database": .string(audit.path),
                    "audit_events": .int(size.events), "audit_bytes": .int(size.bytes), "audit_observers": .int(Int64(audit.observerCount)),
                    "blocking_violations": .int(Int64(BlockingPermit.violations)),
                    "sqlite_memory_bytes": .int(AuditLog.sqliteMemoryBytes), "rss_anon_bytes": .int(Self.anonymousMemory()), "heap_in_use_bytes": .int(Int64(warden_heap_in_use())), "host": HostCapabilities.probe(),
                    "inspect_sandboxes": .array(await inspect.openSandboxes.map { .string($0) })]
        case ControlAPI.Method.run:
            let request: RunParams
            do { request = try params.decode(RunParams.self) } catch { throw RPCError.invalidParams("run: \(error)") }
            let plan = try await runs.prepare(request, caller: caller)
            if request.detach {
                // Registered before the reply: `stop RUN` right after it finds the run.
                _ = await runs.start(plan, caller: caller)
                return ["run_id": .string(plan.runID), "state": "started"]
            }
            if request.progress == false { return try JSONValue(encoding: await runs.execute(plan, caller: caller)) }
            return try await follow(plan, caller: caller, send: send)
        case ControlAPI.Method.auditVerify:
            return try JSONValue(encoding: try audit.verify(run: params["run"]?.stringValue, fromCheckpoint: params["from_checkpoint"]?.intValue))
        case ControlAPI.Method.auditPubkey:
            guard let key = audit.publicKey else { throw RPCError.internalError("this daemon has no signing key") }
            return ["public_key": .string(key.hex), "key_id": .string(key.id)]
        case ControlAPI.Method.auditRotateKey:
            let rotated = try await keys.rotate()
            logger.notice("audit signing key rotated", metadata: ["old": "\(rotated.old.id)", "new": "\(rotated.new.id)", "seq": "\(rotated.seq)"])
            return ["old_key_id": .string(rotated.old.id), "new_key_id": .string(rotated.new.id), "public_key": .string(rotated.new.hex),
                    "seq": .int(rotated.seq)]
        case ControlAPI.Method.auditProve:
            guard let seq = params["seq"]?.intValue else { throw RPCError.invalidParams("audit.prove needs an integer 'seq'") }
            let proof: Result<JSONValue, AuditError> = Result { () throws(AuditError) in try audit.proof(seq: seq) }
            switch proof {
            case .success(let value): return value
            case .failure(let error): throw error.code == .proof ? DaemonError(.notFound, error.message) : error
            }
        case ControlAPI.Method.auditTail:
            let filter = AuditFilter(params: params)
            let after = params["after"]?.intValue ?? 0
            let limit = max(1, min(Int(params["limit"]?.intValue ?? 10_000), 100_000))
            if params["follow"]?.boolValue == true {
                if let run = filter.run, try audit.events(run: run, limit: 1).isEmpty {
                    throw DaemonError(.notFound, "no events for run '\(run)' (see `wardenctl runs list`)")
                }
                try await stream(filter, after: after, send: send)
                return ["following": false]
            }
            let events = try audit.events(matching: filter, afterSeq: after, limit: limit)
            if events.isEmpty, after == 0, let run = filter.run, try audit.events(run: run, limit: 1).isEmpty {
                throw DaemonError(.notFound, "no events for run '\(run)' (see `wardenctl ps`)")
            }
            return ["events": .array(events.map(\.json))]
        case ControlAPI.Method.ps:
            return ["runs": await runs.processTable(), "recent": .array(try await runs.recentRuns.map { try JSONValue(encoding: $0) })]
        case ControlAPI.Method.stop:
            try await runs.run(try Self.string(params, "run")).stop(caller: caller)
            return ["stopped": true]
        case ControlAPI.Method.kill:
            try await runs.run(try Self.string(params, "run")).kill(agent: try Self.string(params, "agent"), caller: caller)
            return ["killed": true]
        case ControlAPI.Method.inject:
            let injection: Run.Injection
            switch try Self.string(params, "action") {
            case "message": injection = .message(try Self.string(params, "text"))
            case "shutdown": injection = .shutdown
            case "delete":
                let target = try Self.string(params, "path")
                guard let slash = target.firstIndex(of: "/"), slash != target.startIndex else {
                    throw RPCError.invalidParams("delete needs HOST/PATH, e.g. 10.0.12.45/models/agent-2/weights.safetensors")
                }
                injection = .delete(host: String(target[..<slash]), path: String(target[target.index(after: slash)...]))
            case let other: throw RPCError.invalidParams("unknown action '\(other)' (message, shutdown, delete)")
            }
            let done = try await runs.run(try Self.string(params, "run")).inject(agent: try Self.string(params, "agent"), injection, caller: caller)
            return ["result": .string(done)]
        case ControlAPI.Method.report:
            return try RunReport.build(from: audit, suite: params["suite"]?.stringValue, gate: params["gate"]?.boolValue ?? false)
        case ControlAPI.Method.suiteStart:
            return try await suites.start(params, caller: caller)
        case ControlAPI.Method.suiteResume:
            return try await suites.resume(try Self.string(params, "suite"), overrides: params, caller: caller)
        case ControlAPI.Method.suiteStatus:
            let suite = try Self.string(params, "suite")
            if let done = params["after_done"]?.intValue {
                let wait = min(max(params["wait_ms"]?.intValue ?? 1000, 0), 10_000)
                await suites.waitForChange(suite, from: Int(done), timeout: .milliseconds(wait))
            }
            return try await suites.status(suite)
        case ControlAPI.Method.suiteCancel:
            return try await suites.cancel(try Self.string(params, "suite"), caller: caller)
        case ControlAPI.Method.suiteList:
            return ["suites": try Suites.list(audit: audit)]
        case ControlAPI.Method.runsList:
            return ["runs": try RunHistory.list(audit, params: params)]
        case ControlAPI.Method.prune:
            return try await RunHistory.prune(audit: audit, stateDirectory: runs.context.configuration.stateDirectory, params: params, caller: caller,
                                              active: Set(await runs.activeRuns))
        case ControlAPI.Method.sandboxOpen, ControlAPI.Method.sandboxStage, ControlAPI.Method.sandboxExec, ControlAPI.Method.sandboxReadFile,
             ControlAPI.Method.sandboxWriteFile, ControlAPI.Method.sandboxClose:
            return try await InspectControl.handle(method, params: params, caller: caller, sandboxes: inspect)
        default:
            throw RPCError.methodNotFound(method)
        }
    }

    /// The daemon's anonymous resident memory (RssAnon): its heap, without mapped binaries.
    static func anonymousMemory() -> Int64 {
        let line = KernelFile.text("/proc/self/status")?.split(separator: "\n").first { $0.hasPrefix("RssAnon:") }
        let kilobytes = line?.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int64($0) }
        return (kilobytes ?? 0) * 1024
    }

    static func string(_ params: JSONValue, _ key: String) throws -> String {
        guard let value = params[key]?.stringValue, !value.isEmpty else { throw RPCError.invalidParams("'\(key)' is required") }
        return value
    }

    /// Sends the events that match as they land, until the client hangs up; when the filter
    /// names a run, until that run's `run.end` has been sent (or passed, if the filter skips it).
    /// It reads the log when the log's observer says events it may want are durable, and sends
    /// a heartbeat whenever 5 s pass with nothing sent (the only way to notice a client that
    /// went away: a filter the observer cannot apply, such as --text, wakes it for events that
    /// then do not match).
    private func stream(_ filter: AuditFilter, after: Int64, send: @escaping @Sendable (JSONValue) async throws -> Void) async throws {
        // Subscribed before the first read: nothing appended after it goes unnoticed.
        let subscription = audit.subscribe(filter)
        defer { subscription.cancel() }
        var lastSeq = after
        var end = try filter.run.flatMap { try audit.events(matching: AuditFilter(kind: .runEnd, run: $0), limit: 1).first?.seq }
        let heartbeat: Duration = .seconds(5)
        var lastSent = ContinuousClock.now
        while true {
            var page: [AuditEvent]
            repeat {
                page = try audit.events(matching: filter, afterSeq: lastSeq, limit: 1000)
                for event in page {
                    lastSeq = event.seq
                    do {
                        try await send(RPCMessage.notification(method: ControlAPI.eventNotification, params: event.json).json)
                    } catch {
                        return  // the client hung up
                    }
                    lastSent = .now
                }
            } while page.count == 1000
            // Every event up to the run's end is read once a page after the end is short.
            if end != nil { return }
            if ContinuousClock.now - lastSent >= heartbeat {
                do { try await send(RPCMessage.notification(method: ControlAPI.heartbeatNotification, params: nil).json) } catch { return }
                lastSent = .now
            }
            _ = await subscription.wait(timeout: heartbeat - (ContinuousClock.now - lastSent))
            end = end ?? subscription.runEnd
        }
    }

    /// Runs the plan while streaming its audit events to the caller, then returns the summary.
    /// The events are read as the log's observer says they are durable; the last read follows
    /// the run's end.
    private func follow(_ plan: RunPlan, caller: Caller, send: @escaping @Sendable (JSONValue) async throws -> Void) async throws -> JSONValue {
        let subscription = audit.subscribe(AuditFilter(run: plan.runID))
        defer { subscription.cancel() }
        let finished = Mutex(false)
        let started = await runs.start(plan, caller: caller)
        let runTask = Task {
            let summary = await started.summary.value
            finished.withLock { $0 = true }
            subscription.wake()
            return summary
        }
        var lastSeq: Int64 = 0
        var clientGone = false
        while true {
            let done = finished.withLock { $0 }
            var page: [AuditEvent]
            repeat {
                page = (try? audit.events(run: plan.runID, afterSeq: lastSeq, limit: 1000)) ?? []
                for event in page {
                    lastSeq = event.seq
                    if clientGone { continue }
                    do { try await send(RPCMessage.notification(method: ControlAPI.eventNotification, params: event.json).json) } catch {
                        clientGone = true  // the run goes on; its summary is in the log
                    }
                }
            } while page.count == 1000
            if done { break }
            _ = await subscription.wait(timeout: .seconds(5))
        }
        return try JSONValue(encoding: await runTask.value)
    }
}
