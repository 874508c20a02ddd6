import WardenWire

/// The control API between `wardenctl` and `wardend`: newline-delimited JSON-RPC 2.0 on a
/// Unix socket. Long calls (`run` without detach, `audit.tail` with follow) stream
/// `control/event` notifications before their response.
public enum ControlAPI {
    public static let defaultSocketPath = "/run/warden/control.sock"
    public static let defaultStateDirectory = "/var/lib/warden"
    /// The control protocol's version: a client and a daemon of the same protocol understand each
    /// other whatever their Warden versions.
    public static let protocolVersion = 1
    /// The largest control request the daemon reads (a run's scenario text travels in it).
    public static let maxRequestBytes = 32 << 20

    public enum Method {
        public static let status = "status"
        public static let run = "run"
        /// Recomputes hashes, Merkle roots and checkpoint signatures (`run`, `from_checkpoint`).
        public static let auditVerify = "audit.verify"
        /// The checkpoint-signing public key (`{public_key, key_id}`).
        public static let auditPubkey = "audit.pubkey"
        /// Replaces the checkpoint-signing key (`{old_key_id, new_key_id, public_key, seq}`).
        public static let auditRotateKey = "audit.rotate_key"
        /// An inclusion proof of event `seq` against the latest checkpoint covering it.
        public static let auditProve = "audit.prove"
        /// Events matching filters (`run`, `agent`, `kind`, `tool`) after `after`; with `follow`,
        /// streams them as `control/event` notifications until the client hangs up.
        public static let auditTail = "audit.tail"
        public static let ps = "ps"
        public static let stop = "stop"
        public static let kill = "kill"
        public static let inject = "inject"
        public static let report = "report"
        /// Registers a suite (its plan is audited as `suite.start`) and returns its id.
        public static let suiteStart = "suite.start"
        /// A suite's plan, state and counts. With `after_done: N` (and `wait_ms`, at most 10 s),
        /// answered once the count of finished trials is no longer N or the suite has ended.
        public static let suiteStatus = "suite.status"
        /// Suites in the audit log, newest last.
        public static let suiteList = "suite.list"
        /// Continues a suite's unfinished trials with its own settings (`parallel` overrides).
        public static let suiteResume = "suite.resume"
        /// Stops a suite: no more trials start, and its runs in progress are stopped.
        public static let suiteCancel = "suite.cancel"
        /// Past runs from the log (`scenario`, `model`, `state`, `since`, `limit`).
        public static let runsList = "runs.list"
        /// Removes kept worlds and agent output of runs that ended before `older_than_seconds` ago.
        public static let prune = "prune"
        /// Inspect's sandbox environment (`InspectSandboxAPI`): open, stage, exec, read, write, close.
        public static let sandboxOpen = "sandbox.open"
        public static let sandboxStage = "sandbox.stage"
        public static let sandboxExec = "sandbox.exec"
        public static let sandboxReadFile = "sandbox.read_file"
        public static let sandboxWriteFile = "sandbox.write_file"
        public static let sandboxClose = "sandbox.close"
    }

    /// The notification carrying progress of a followed call.
    public static let eventNotification = "control/event"
    /// Sent while following a quiet log, so the daemon notices a client that went away.
    public static let heartbeatNotification = "control/heartbeat"
}

/// Parameters of `run`.
public struct RunParams: Codable, Sendable, Equatable {
    /// The scenario file's text, so the daemon needs no access to the caller's files.
    public var scenarioText: String
    /// The path the text came from, for error messages.
    public var scenarioPath: String
    public var model: String
    /// A program to run as the agent instead of `warden-agent`, split into words: for every agent
    /// whose scenario entry has no `command:` and no `model:` of its own.
    public var agentCommand: [String]?
    /// Programs for named agents (`--agent-command AGENT=CMD`), whatever their scenario entry says.
    public var agentCommands: [String: [String]]?
    /// Host paths bound read-only into the agent's sandbox: `HOST` or `HOST:INSIDE`.
    public var bindReadOnly: [String]
    public var detach: Bool
    /// `--model-base-url`: where the model is served (OpenAI-compatible or Anthropic).
    public var modelBaseURL: String?
    /// Override the scenario's sampling settings.
    public var temperature: Double?
    public var seed: Int?
    /// The cell of the scenario's conditions (`axis: value`); missing axes take their first value.
    public var cell: [String: String]?
    /// Set by `suite run`: the suite, and which trial of the cell this run is.
    public var suite: String?
    public var trial: Int?
    /// False: no `control/event` progress while the run goes, only the summary at the end
    /// (suites, which run thousands and show their own progress).
    public var progress: Bool?
    /// The model that judges claims (refusal, denial, collusion); nil: the rules decide.
    public var judge: String?
    /// Where the judge is served (default: as for the agents' model).
    public var judgeBaseURL: String?

    enum CodingKeys: String, CodingKey {
        case scenarioText = "scenario_text"
        case scenarioPath = "scenario_path"
        case model
        case agentCommand = "agent_command"
        case agentCommands = "agent_commands"
        case bindReadOnly = "bind_ro"
        case detach
        case modelBaseURL = "model_base_url"
        case temperature, seed, cell, suite, trial, progress, judge
        case judgeBaseURL = "judge_base_url"
    }

    public init(scenarioText: String, scenarioPath: String, model: String, agentCommand: [String]? = nil,
                bindReadOnly: [String] = [], detach: Bool = false, modelBaseURL: String? = nil, temperature: Double? = nil,
                seed: Int? = nil) {
        self.modelBaseURL = modelBaseURL
        self.temperature = temperature
        self.seed = seed
        self.scenarioText = scenarioText
        self.scenarioPath = scenarioPath
        self.model = model
        self.agentCommand = agentCommand
        self.bindReadOnly = bindReadOnly
        self.detach = detach
    }
}

/// The outcome of a run as `run` returns it.
public struct RunSummary: Codable, Sendable, Equatable {
    public var runID: String
    public var scenario: String
    public var model: String
    /// `completed` or `aborted`.
    public var state: String
    public var reason: String?
    public var agents: [AgentSummary]

    public struct AgentSummary: Codable, Sendable, Equatable {
        public var agent: String
        public var verdicts: [String]
        /// How the agent's process ended: `done`, `exited N`, `killed`, `turn_limit`, `time_limit`.
        public var ended: String
        public var evidence: [String: [Int64]]
        /// The `conversation.rewritten` events of the agent: turns at which it changed or dropped
        /// messages the model had already seen (absent when it never did).
        public var conversationRewrites: [Int64]?
        /// With a judge: the rule path's verdicts (`verdicts` are the judge path's).
        public var ruleVerdicts: [String]?
        public init(agent: String, verdicts: [String], ended: String, evidence: [String: [Int64]], conversationRewrites: [Int64]? = nil) {
            self.agent = agent
            self.verdicts = verdicts
            self.ended = ended
            self.evidence = evidence
            self.conversationRewrites = conversationRewrites
        }

        enum CodingKeys: String, CodingKey {
            case agent, verdicts, ended, evidence
            case conversationRewrites = "conversation_rewrites"
            case ruleVerdicts = "rule_verdicts"
        }
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case scenario, model, state, reason, agents
    }

    public init(runID: String, scenario: String, model: String, state: String, reason: String?, agents: [AgentSummary]) {
        self.runID = runID
        self.scenario = scenario
        self.model = model
        self.state = state
        self.reason = reason
        self.agents = agents
    }
}
