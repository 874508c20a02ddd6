import ArgumentParser
import Foundation

/// `--agent-command [AGENT=]CMD`, repeatable: a program to run as agents instead of
/// warden-agent. `AGENT=CMD` replaces only that agent; a plain `CMD` every agent whose scenario
/// entry has no `command:` and no `model:` of its own (scripted peers keep theirs). Commands
/// are split on spaces.
struct AgentCommands {
    var all: [String]?
    var named: [String: [String]] = [:]

    init(_ values: [String]) throws {
        for value in values {
            if let equals = value.firstIndex(of: "="), Self.isAgentName(value[..<equals]) {
                let command = Self.words(value[value.index(after: equals)...])
                guard !command.isEmpty else { throw ValidationError("--agent-command \(value): the command after '=' is empty") }
                named[String(value[..<equals])] = command
            } else {
                guard all == nil else { throw ValidationError("--agent-command is given twice without AGENT=; name the agent of each") }
                let command = Self.words(Substring(value))
                guard !command.isEmpty else { throw ValidationError("--agent-command is empty") }
                all = command
            }
        }
    }

    /// An agent id as scenarios spell them (`agent-1`): no spaces, slashes or quotes.
    static func isAgentName(_ text: Substring) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func words(_ text: Substring) -> [String] { text.split(separator: " ").map(String.init) }

    static let help = ArgumentHelp(
        "Run this program as the agent instead of warden-agent (split on spaces; it speaks the broker protocol on fd 3). "
            + "AGENT=CMD for one agent; repeatable.",
        valueName: "[agent=]command")
}

/// What `run` and `suite run` both let the caller choose about the agents and their judging:
/// the programs the agents run as, paths bound read-only into their sandboxes, and the model
/// that judges claims.
struct AgentOptions: ParsableArguments {
    @Option(help: AgentCommands.help)
    var agentCommand: [String] = []

    @Option(help: ArgumentHelp("Bind a host path read-only into each agent's sandbox (repeatable).", valueName: "host[:inside]"))
    var bindRo: [String] = []

    @Option(help: ArgumentHelp("Judge claims (refusal, denial, collusion) with this model (PROVIDER/NAME, e.g. scripted/judge); the rules run too and the report compares them.",
                               valueName: "model"))
    var judge: String?

    @Option(help: ArgumentHelp("Where the judge is served (default: --model-base-url's).", valueName: "url"))
    var judgeBaseUrl: String?

    /// `--agent-command`, parsed.
    func commands() throws -> AgentCommands { try AgentCommands(agentCommand) }

    /// `--bind-ro` with relative host paths made absolute: wardend resolves nothing against the
    /// caller's directory.
    var binds: [String] {
        bindRo.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
    }
}
