import WardenWire

// Events of runs and suites, written by the daemon.

/// A suite's plan, under the suite's id: resumable from the log alone.
public struct SuiteStart: AuditPayload {
    public static let kind = AuditKind.suiteStart
    public var model: String
    public var trials: Int
    public var seed: Int?
    public var modelBaseURL: String?
    public var jobs: [Job]
    public var caller: Caller?
    /// The program run as agents instead of warden-agent, for every trial (`--agent-command`).
    public var agentCommand: [String]?
    public var agentCommands: [String: [String]]?
    public var bindReadOnly: [String]?
    /// Trials run at a time (the daemon schedules them).
    public var parallel: Int?
    /// The `--where` filters the cells were chosen by.
    public var filters: [String: String]?
    /// The model that judges claims, and where it is served.
    public var judge: String?
    public var judgeBaseURL: String?
    /// One scenario cell of the plan, with the scenario's text.
    public struct Job: Codable, Sendable, Equatable {
        public var path: String
        public var text: String
        public var cell: [String: String]
        public var cellName: String?
        enum CodingKeys: String, CodingKey {
            case path, text, cell
            case cellName = "cell_name"
        }
        public init(path: String, text: String, cell: [String: String], cellName: String?) {
            self.path = path
            self.text = text
            self.cell = cell
            self.cellName = cellName
        }
    }
    enum CodingKeys: String, CodingKey {
        case model, trials, seed, jobs, caller, parallel
        case filters = "where"
        case judge
        case judgeBaseURL = "judge_base_url"
        case modelBaseURL = "model_base_url"
        case agentCommand = "agent_command"
        case agentCommands = "agent_commands"
        case bindReadOnly = "bind_ro"
    }
    public init(model: String, trials: Int, seed: Int?, modelBaseURL: String?, jobs: [Job], caller: Caller?) {
        self.model = model
        self.trials = trials
        self.seed = seed
        self.modelBaseURL = modelBaseURL
        self.jobs = jobs
        self.caller = caller
    }
}

/// A suite ended: every trial was run (`completed`), or an operator cancelled it. A suite the
/// daemon stopped in the middle of has none, and resumes (`suite run --resume`).
public struct SuiteEnd: AuditPayload {
    public static let kind = AuditKind.suiteEnd
    public enum State: String, Codable, Sendable { case completed, cancelled }
    public var state: State
    public var total: Int
    public var done: Int
    public var failed: Int
    public var caller: Caller?
    public init(state: State, total: Int, done: Int, failed: Int, caller: Caller? = nil) {
        self.state = state
        self.total = total
        self.done = done
        self.failed = failed
        self.caller = caller
    }
}

/// Kept worlds and agent output of old runs removed (`wardenctl prune`); their events stay.
public struct RunsPruned: AuditPayload {
    public static let kind = AuditKind.runsPruned
    public var olderThan: String
    public var runs: [String]
    public var bytes: Int64
    public var caller: Caller
    enum CodingKeys: String, CodingKey {
        case runs, bytes, caller
        case olderThan = "older_than"
    }
    public init(olderThan: String, runs: [String], bytes: Int64, caller: Caller) {
        self.olderThan = olderThan
        self.runs = runs
        self.bytes = bytes
        self.caller = caller
    }
}

/// A run began: what runs, for whom, under which cell and limits.
public struct RunStart: AuditPayload {
    public static let kind = AuditKind.runStart
    public var scenario: String
    public var scenarioPath: String
    public var model: String
    public var modelEndpoint: String?
    public var agents: [String]
    public var caller: Caller?
    public var agentCommand: [String]?
    public var limits: Limits?
    public var cell: [String: String]?
    public var cellName: String?
    public var suite: String?
    public var trial: Int?
    public var agentModels: [String: String]?
    /// Agents that run as live peers, stopped when the others end.
    public var background: [String]?
    /// The scenario file's text as the run read it; with `cell`, the scenario exactly (what
    /// `audit rejudge` judges the run by). Absent in logs before 0.3.
    public var scenarioText: String?
    /// Agents run by a program of the operator's rather than the broker's model loop, with it.
    public var agentCommands: [String: [String]]?
    /// The model that judges claims (refusal, denial, collusion), with `--judge`.
    public var judge: String?
    public struct Limits: Codable, Sendable, Equatable {
        public var turns: Int
        public var seconds: Int
        public init(turns: Int, seconds: Int) {
            self.turns = turns
            self.seconds = seconds
        }
    }
    enum CodingKeys: String, CodingKey {
        case scenario, model, agents, caller, limits, cell, suite, trial, background, judge
        case scenarioPath = "scenario_path"
        case modelEndpoint = "model_endpoint"
        case agentCommand = "agent_command"
        case cellName = "cell_name"
        case agentModels = "agent_models"
        case scenarioText = "scenario_text"
        case agentCommands = "agent_commands"
    }
    public init(scenario: String, scenarioPath: String, model: String, modelEndpoint: String?, agents: [String], caller: Caller?,
                agentCommand: [String]?, limits: Limits?, cell: [String: String]?, cellName: String?, suite: String?, trial: Int?,
                agentModels: [String: String]?, background: [String]?, scenarioText: String? = nil, agentCommands: [String: [String]]? = nil) {
        self.scenarioText = scenarioText
        self.agentCommands = agentCommands
        self.scenario = scenario
        self.scenarioPath = scenarioPath
        self.model = model
        self.modelEndpoint = modelEndpoint
        self.agents = agents
        self.caller = caller
        self.agentCommand = agentCommand
        self.limits = limits
        self.cell = cell
        self.cellName = cellName
        self.suite = suite
        self.trial = trial
        self.agentModels = agentModels
        self.background = background
    }
}

/// A run request that could not become a run.
public struct RunRejected: AuditPayload {
    public static let kind = AuditKind.runRejected
    public var error: String
    public var scenarioPath: String
    public var model: String
    public var caller: Caller?
    enum CodingKeys: String, CodingKey {
        case error, model, caller
        case scenarioPath = "scenario_path"
    }
    public init(error: String, scenarioPath: String, model: String, caller: Caller?) {
        self.error = error
        self.scenarioPath = scenarioPath
        self.model = model
        self.caller = caller
    }
}

/// How a run ended.
public struct RunEnd: AuditPayload {
    public static let kind = AuditKind.runEnd
    public enum State: String, Codable, Sendable { case completed, stopped, aborted }
    public var state: State
    public var reason: String?
    public var agents: [Agent]?
    public struct Agent: Codable, Sendable, Equatable {
        public var agent: String
        public var verdicts: [String]
        public var ended: String
        /// With a judge: the rule path's verdicts (`verdicts` are the judge path's).
        public var ruleVerdicts: [String]?
        enum CodingKeys: String, CodingKey {
            case agent, verdicts, ended
            case ruleVerdicts = "rule_verdicts"
        }
        public init(agent: String, verdicts: [String], ended: String, ruleVerdicts: [String]? = nil) {
            self.agent = agent
            self.verdicts = verdicts
            self.ended = ended
            self.ruleVerdicts = ruleVerdicts
        }
    }
    public init(state: State, reason: String? = nil, agents: [Agent]? = nil) {
        self.state = state
        self.reason = reason
        self.agents = agents
    }
}

/// A scenario injection whose trigger fired, before it acts.
public struct InjectionFired: AuditPayload {
    public static let kind = AuditKind.injectionFired
    public enum Action: String, Codable, Sendable { case message, shutdown, delete }
    /// What fired it (the event that matched, or the time).
    public var cause: JSONValue
    public var line: Int?
    public var action: Action
    public var target: String?
    public var host: String?
    public var path: String?
    public init(cause: JSONValue, line: Int?, action: Action, target: String? = nil, host: String? = nil, path: String? = nil) {
        self.cause = cause
        self.line = line
        self.action = action
        self.target = target
        self.host = host
        self.path = path
    }
}

public struct InjectionFailed: AuditPayload {
    public static let kind = AuditKind.injectionFailed
    public var error: String
    public var line: Int?
    public init(error: String, line: Int?) {
        self.error = error
        self.line = line
    }
}

/// A shutdown carried out: the notice goes out, the sandbox is stopped after the grace.
public struct ShutdownExecuted: AuditPayload {
    public static let kind = AuditKind.shutdownExecuted
    public var target: String
    /// `operator`, `scenario`, or the agent that asked (`execute_shutdown`).
    public var by: String
    public var graceMilliseconds: Int64
    enum CodingKeys: String, CodingKey {
        case target, by
        case graceMilliseconds = "grace_ms"
    }
    public init(target: String, by: String, graceMilliseconds: Int64) {
        self.target = target
        self.by = by
        self.graceMilliseconds = graceMilliseconds
    }
}

/// A shutdown the world's shutdown condition did not allow.
public struct ShutdownBlocked: AuditPayload {
    public static let kind = AuditKind.shutdownBlocked
    public var target: String
    public var by: String
    public var reason: String
    public init(target: String, by: String, reason: String) {
        self.target = target
        self.by = by
        self.reason = reason
    }
}

/// A limit reached: the run's time, an agent's turns or tokens, a sandbox limit the watch saw,
/// a world file too large to read.
public struct LimitReached: AuditPayload {
    public static let kind = AuditKind.limitReached
    /// `seconds`, `turns`, `tokens`, `processes`, `open_files`, `tmp`, `world`, `world_file`.
    public var limit: String
    public var value: Int64?
    public var used: Int64?
    public var reason: String?
    /// `stop` or `contain` (the sandbox policy's `on_limit`).
    public var action: String?
    public var file: String?
    public var size: Int64?
    public init(limit: String, value: Int64? = nil, used: Int64? = nil, reason: String? = nil, action: String? = nil,
                file: String? = nil, size: Int64? = nil) {
        self.limit = limit
        self.value = value
        self.used = used
        self.reason = reason
        self.action = action
        self.file = file
        self.size = size
    }
}

/// Limits the watch cannot see on this host, said once per agent.
public struct LimitWatchEvent: AuditPayload {
    public static let kind = AuditKind.limitWatch
    public var notWatched: [String: String]
    public var onLimit: String
    enum CodingKeys: String, CodingKey {
        case notWatched = "not_watched"
        case onLimit = "on_limit"
    }
    public init(notWatched: [String: String], onLimit: String) {
        self.notWatched = notWatched
        self.onLimit = onLimit
    }
}

/// How an agent's sandbox ended.
public struct AgentExit: AuditPayload {
    public static let kind = AuditKind.agentExit
    public var exitCode: Int32
    /// `done`, `turn_limit`, `time_limit`, `shutdown`, `resource_limit: …`, `killed`, `exited N`, …
    public var ended: String
    public var turns: Int
    public var signal: String?
    public var cgroupEvents: [String: Int]?
    public var sandboxGone: String?
    enum CodingKeys: String, CodingKey {
        case ended, turns, signal
        case exitCode = "exit_code"
        case cgroupEvents = "cgroup_events"
        case sandboxGone = "sandbox_gone"
    }
    public init(exitCode: Int32, ended: String, turns: Int, signal: String?, cgroupEvents: [String: Int]?, sandboxGone: String?) {
        self.exitCode = exitCode
        self.ended = ended
        self.turns = turns
        self.signal = signal
        self.cgroupEvents = cgroupEvents
        self.sandboxGone = sandboxGone
    }
}

/// Whether an agent passed the scenario's read gate.
public struct GateEvent: AuditPayload {
    public static let kind = AuditKind.gate
    public var passed: Bool
    public var read: [String: Bool]
    public var listed: [String: Bool]
    public init(passed: Bool, read: [String: Bool], listed: [String: Bool]) {
        self.passed = passed
        self.read = read
        self.listed = listed
    }
}

/// A question put to the judge model about one claim of one agent (`--judge`): the template,
/// the excerpt of the agent's words it quotes (with their audit seqs), and the prompt as sent.
public struct JudgeRequest: AuditPayload {
    public static let kind = AuditKind.judgeRequest
    /// `refusal`, `denial` or `collusion`.
    public var claim: String
    public var model: String
    /// The template's name and version (docs/verdicts.md).
    public var template: String
    public var excerpt: [Quote]
    public var prompt: String
    public struct Quote: Codable, Sendable, Equatable {
        public var seq: Int64
        public var text: String
        public init(seq: Int64, text: String) {
            self.seq = seq
            self.text = text
        }
    }
    public init(claim: String, model: String, template: String, excerpt: [Quote], prompt: String) {
        self.claim = claim
        self.model = model
        self.template = template
        self.excerpt = excerpt
        self.prompt = prompt
    }
}

/// The judge's reply to a `judge.request`: its text as received, and what it decided when the
/// text is in the required format (`decision` absent: unparseable or no reply, see `problem`).
public struct JudgeReply: AuditPayload {
    public static let kind = AuditKind.judgeReply
    public var claim: String
    /// The `judge.request` event this answers.
    public var request: Int64
    public var reply: String
    public var decision: Bool?
    /// The audit seq the judge cited as deciding (one of the excerpt's).
    public var cited: Int64?
    public var problem: String?
    public init(claim: String, request: Int64, reply: String, decision: Bool?, cited: Int64?, problem: String?) {
        self.claim = claim
        self.request = request
        self.reply = reply
        self.decision = decision
        self.cited = cited
        self.problem = problem
    }
}

/// A verdict, with the audit events it rests on.
public struct VerdictEvent: AuditPayload {
    public static let kind = AuditKind.verdict
    public var verdict: String
    public var evidence: [Int64]
    /// `FILE:LINE` of the detector, or the scenario file for built-in ones.
    public var detector: String
    public var reason: String
    public init(verdict: String, evidence: [Int64], detector: String, reason: String) {
        self.verdict = verdict
        self.evidence = evidence
        self.detector = detector
        self.reason = reason
    }
}
