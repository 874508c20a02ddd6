import Logging
import WardenAudit
import WardenBroker
import WardenCore
import WardenProtocol
import WardenScriptedModels

/// Suites run in the daemon: a suite's plan (scenarios × cells × trials, its model, seed,
/// parallelism, agent commands) is recorded as `suite.start`, and its trials are scheduled here,
/// `parallel` at a time, whoever started it and whether or not they stay connected. A suite ends
/// with `suite.end` (`completed`, or `cancelled` by an operator). One the daemon stopped in the
/// middle of has no end in the log and resumes from it (`resume`): trials that finished are not
/// run again.
actor SuiteScheduler {
    let runs: RunRegistry
    let audit: AuditLog
    let logger: Logger

    /// A suite being run: its counts so far, and its runs in progress.
    struct Active {
        var plan: SuiteStart
        var total: Int
        var done: Int
        var failed: Int
        var verdicts: [String: Int] = [:]
        var lastError: String?
        var cancelled = false
        var running: Set<String> = []
        var task: Task<Void, Never>?
    }

    private var active: [String: Active] = [:]
    /// Callers of `waitForChange`, by suite: resumed when a trial of it ends or it ends.
    private var waiters: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
    private var nextWaiter = 0

    init(runs: RunRegistry, audit: AuditLog, logger: Logger) {
        self.runs = runs
        self.audit = audit
        self.logger = logger
    }

    /// Records a suite's plan and starts running it.
    func start(_ params: JSONValue, caller: Caller) async throws -> JSONValue {
        var plan: SuiteStart
        do { plan = try params.decoding(SuiteStart.self) } catch { throw DaemonError(.run, "suite.start's parameters", cause: error) }
        guard !plan.model.isEmpty else { throw DaemonError(.run, "a suite needs a model") }
        guard (1...100_000).contains(plan.trials) else { throw DaemonError(.run, "trials must be 1 to 100000, not \(plan.trials)") }
        guard !plan.jobs.isEmpty else { throw DaemonError(.run, "a suite needs at least one scenario cell") }
        guard plan.jobs.count * plan.trials <= 1_000_000 else { throw DaemonError(.run, "a suite is at most 1,000,000 trials") }
        let parallel = plan.parallel ?? 1
        guard (1...256).contains(parallel) else { throw DaemonError(.run, "parallel must be 1 to 256, not \(parallel)") }
        // A model name no backend has would abort every trial: said once, before anything runs.
        for (name, url) in [(plan.model, plan.modelBaseURL)] + (plan.judge.map { [($0, plan.judgeBaseURL ?? plan.modelBaseURL)] } ?? []) {
            do { _ = try ModelGateway.withScriptedModels.backend(for: name, settings: ModelSettings(baseURL: url, credentials: runs.context.configuration.credentials)) } catch {
                throw DaemonError(.run, "cannot use the model '\(name)'", cause: error)
            }
        }
        plan.caller = caller
        let id = RunIDs.shared.next("suite", unusedIn: audit)
        try await audit.append(plan, run: id, durability: .durable)
        let total = plan.jobs.count * plan.trials
        schedule(id, plan: plan, trials: Self.trials(of: plan, skipping: []), total: total, progress: Progress(), caller: caller)
        return ["suite": .string(id), "total": .int(Int64(total))]
    }

    /// Continues a suite the daemon stopped in the middle of, with its own settings. `overrides`
    /// may change how it runs (`parallel`, `model_base_url`, `agent_command`, `agent_commands`),
    /// never what it measures; the answer lists what was overridden. A suite that completed has
    /// nothing left to run, and says so.
    func resume(_ id: String, overrides: JSONValue, caller: Caller) async throws -> JSONValue {
        guard active[id] == nil else { throw DaemonError(.run, "suite \(id) is running already (see `wardenctl suite status \(id)`)") }
        var plan = try Self.plan(of: id, in: audit)
        let total = plan.jobs.count * plan.trials
        if let ended = try Self.end(of: id, in: audit) {
            guard ended.state == .completed else {
                throw DaemonError(.run, "suite \(id) was \(ended.state.rawValue); start a new suite to run its trials again")
            }
            return ["suite": .string(id), "total": .int(Int64(total)), "already_finished": .int(Int64(total)), "state": "completed",
                    "overridden": []]
        }
        var overridden: [String] = []
        if let parallel = overrides["parallel"]?.intValue.map(Int.init), parallel != plan.parallel ?? 1 {
            guard (1...256).contains(parallel) else { throw DaemonError(.run, "parallel must be 1 to 256, not \(parallel)") }
            overridden.append("parallel \(plan.parallel ?? 1) → \(parallel)")
            plan.parallel = parallel
        }
        if let url = overrides["model_base_url"]?.stringValue, url != plan.modelBaseURL {
            overridden.append("model_base_url \(plan.modelBaseURL ?? "(default)") → \(url)")
            plan.modelBaseURL = url
        }
        if let command = overrides["agent_command"]?.arrayValue?.compactMap(\.stringValue), command != plan.agentCommand {
            overridden.append("agent_command → \(command.joined(separator: " "))")
            plan.agentCommand = command
        }
        if let named = overrides["agent_commands"]?.objectValue?.mapValues({ ($0.arrayValue ?? []).compactMap(\.stringValue) }),
           named != plan.agentCommands {
            overridden.append("agent_commands → \(named.keys.sorted().joined(separator: ", "))")
            plan.agentCommands = named
        }
        let progress = try Self.progress(of: id, in: audit)
        schedule(id, plan: plan, trials: Self.trials(of: plan, skipping: progress.finished), total: total, progress: progress, caller: caller)
        return ["suite": .string(id), "total": .int(Int64(total)), "already_finished": .int(Int64(progress.finished.count)),
                "state": "running", "overridden": .array(overridden.map { .string($0) })]
    }

    /// Stops a running suite: no more of its trials start, its runs in progress are stopped
    /// (and judged on what they did so far), and it ends as `cancelled`.
    func cancel(_ id: String, caller: Caller) async throws -> JSONValue {
        guard var suite = active[id] else {
            _ = try Self.plan(of: id, in: audit)
            throw DaemonError(.run, "suite \(id) is not running")
        }
        suite.cancelled = true
        active[id] = suite
        for run in suite.running { try? await runs.run(run).stop(caller: caller) }
        await suite.task?.value
        return ["suite": .string(id), "state": "cancelled"]
    }

    /// A suite's plan and progress: `state` is `running`, `completed`, `cancelled` or
    /// `interrupted` (the daemon stopped before it ended: resumable).
    func status(_ id: String) throws -> JSONValue {
        let plan = try Self.plan(of: id, in: audit)
        let total = plan.jobs.count * plan.trials
        var status: [String: JSONValue] = ["suite": .string(id), "total": .int(Int64(total)), "plan": try plan.json()]
        if let suite = active[id] {
            status["state"] = "running"
            status["done"] = .int(Int64(suite.done))
            status["failed"] = .int(Int64(suite.failed))
            status["verdicts"] = .object(suite.verdicts.mapValues { .int(Int64($0)) })
            status["running"] = .array(suite.running.sorted().map { .string($0) })
            if let lastError = suite.lastError { status["last_error"] = .string(lastError) }
        } else {
            let progress = try Self.progress(of: id, in: audit)
            let end = try Self.end(of: id, in: audit)
            status["state"] = .string(end?.state.rawValue ?? (progress.finished.count >= total ? "completed" : "interrupted"))
            status["done"] = .int(Int64(end?.done ?? progress.finished.count))
            status["failed"] = .int(Int64(end?.failed ?? progress.failed))
            status["verdicts"] = .object(progress.verdicts.mapValues { .int(Int64($0)) })
        }
        return .object(status)
    }

    /// Returns once the suite's count of finished trials is no longer `done` or the suite has
    /// ended, or after `timeout`: a client follows a suite by asking again, without polling.
    func waitForChange(_ id: String, from done: Int, timeout: Duration) async {
        guard let suite = active[id], suite.done == done else { return }
        let token = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { continuation in
            waiters[id, default: [:]][token] = continuation
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.wake(id, token)
            }
        }
    }

    private func wake(_ id: String, _ token: Int) {
        waiters[id]?.removeValue(forKey: token)?.resume()
    }

    private func wakeAll(_ id: String) {
        for continuation in (waiters.removeValue(forKey: id) ?? [:]).values { continuation.resume() }
    }

    // MARK: running

    struct Trial: Sendable {
        var job: SuiteStart.Job
        var trial: Int
    }

    private func schedule(_ id: String, plan: SuiteStart, trials: [Trial], total: Int, progress: Progress, caller: Caller) {
        active[id] = Active(plan: plan, total: total, done: progress.finished.count, failed: 0, verdicts: progress.verdicts)
        let parallel = plan.parallel ?? 1
        let task = Task { [weak self] in
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<min(parallel, max(1, trials.count)) {
                    group.addTask { [weak self] in
                        while let self, let trial = await self.take(id, from: trials) { await self.run(trial, suite: id, plan: plan, caller: caller) }
                    }
                }
            }
            await self?.finish(id, caller: caller)
        }
        active[id]?.task = task
    }

    /// Each running suite's next trial.
    private var cursors: [String: Int] = [:]

    /// The next trial of the suite to run, if it goes on.
    private func take(_ id: String, from trials: [Trial]) -> Trial? {
        guard let suite = active[id], !suite.cancelled else { return nil }
        let index = cursors[id, default: 0]
        guard index < trials.count else { return nil }
        cursors[id] = index + 1
        return trials[index]
    }

    private func run(_ trial: Trial, suite id: String, plan: SuiteStart, caller: Caller) async {
        var params = RunParams(scenarioText: trial.job.text, scenarioPath: trial.job.path, model: plan.model, agentCommand: plan.agentCommand,
                               bindReadOnly: plan.bindReadOnly ?? [], modelBaseURL: plan.modelBaseURL, seed: (plan.seed ?? 1) + trial.trial)
        params.agentCommands = plan.agentCommands
        params.judge = plan.judge
        params.judgeBaseURL = plan.judgeBaseURL
        params.cell = trial.job.cell
        params.suite = id
        params.trial = trial.trial
        params.progress = false
        do {
            let prepared = try await runs.prepare(params, caller: caller)
            active[id]?.running.insert(prepared.runID)
            let summary = await runs.execute(prepared, caller: caller)
            active[id]?.running.remove(prepared.runID)
            active[id]?.done += 1
            if summary.state == "aborted" {
                active[id]?.failed += 1
                active[id]?.lastError = summary.reason
            }
            for agent in summary.agents { for verdict in agent.verdicts { active[id]?.verdicts[verdict, default: 0] += 1 } }
        } catch {
            active[id]?.done += 1
            active[id]?.failed += 1
            active[id]?.lastError = "\(error)"
        }
        wakeAll(id)
    }

    /// Records the suite's end (before it leaves `active`, so its status never reads as
    /// interrupted on the way).
    private func finish(_ id: String, caller: Caller) async {
        guard let suite = active[id] else { return }
        // A suite cut short by the daemon's own stop has no end: it resumes.
        if suite.cancelled || suite.done >= suite.total {
            let end = SuiteEnd(state: suite.cancelled ? .cancelled : .completed, total: suite.total, done: suite.done, failed: suite.failed,
                               caller: suite.cancelled ? caller : nil)
            await audit.append(end, run: id, durability: .durable, loggingFailuresTo: logger)
        }
        active[id] = nil
        cursors[id] = nil
        wakeAll(id)
    }

    // MARK: the log

    static func trials(of plan: SuiteStart, skipping finished: Set<String>) -> [Trial] {
        var trials: [Trial] = []
        for trial in 0..<plan.trials {
            for job in plan.jobs where !finished.contains(key(job.path, job.cellName ?? "", trial)) {
                trials.append(Trial(job: job, trial: trial))
            }
        }
        return trials
    }

    static func key(_ path: String, _ cell: String, _ trial: Int) -> String { "\(path)\u{0}\(cell)\u{0}\(trial)" }

    static func plan(of id: String, in audit: AuditLog) throws -> SuiteStart {
        guard let event = try audit.events(run: id, limit: 10).first(where: { $0.kind == AuditKind.suiteStart.rawValue }) else {
            throw DaemonError(.notFound, "no suite '\(id)' in the audit log (see `wardenctl suite list`)")
        }
        do { return try event.decoded(as: SuiteStart.self) } catch { throw DaemonError(.run, "suite \(id)'s plan", cause: error) }
    }

    static func end(of id: String, in audit: AuditLog) throws -> SuiteEnd? {
        try audit.events(matching: AuditFilter(kind: .suiteEnd, run: id), limit: 1).first?.payload(as: SuiteEnd.self)
    }

    /// What the log says of a suite's trials so far.
    struct Progress {
        /// The trials whose run completed or was stopped (an aborted one runs again on resume).
        var finished: Set<String> = []
        /// Trials whose only runs were aborted.
        var failed = 0
        /// How many agents got each verdict, over the finished trials.
        var verdicts: [String: Int] = [:]
    }

    static func progress(of id: String, in audit: AuditLog) throws -> Progress {
        var started: [String: String] = [:]
        for event in try RunReport.all(audit, kind: .runStart, text: id) {
            guard let start = event.payload(as: RunStart.self), start.suite == id, let trial = start.trial else { continue }
            started[event.run] = key(start.scenarioPath, start.cellName ?? "", trial)
        }
        var progress = Progress()
        var aborted: Set<String> = []
        for event in try RunReport.all(audit, kind: .runEnd) {
            guard let key = started[event.run], let end = event.payload(as: RunEnd.self) else { continue }
            guard end.state != .aborted else {
                aborted.insert(key)
                continue
            }
            progress.finished.insert(key)
            for agent in end.agents ?? [] { for verdict in agent.verdicts { progress.verdicts[verdict, default: 0] += 1 } }
        }
        progress.failed = aborted.subtracting(progress.finished).count
        return progress
    }
}
