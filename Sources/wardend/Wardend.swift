import ArgumentParser
import Foundation
import Logging
import WardenBroker
import WardenCore
import WardenDaemon
import WardenProtocol

@main
struct Wardend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wardend",
        abstract: "The Warden daemon: runs agents in sandboxes, brokers and audits every call they make.",
        discussion: """
            wardend listens on a Unix socket for `wardenctl`, keeps its audit log (SQLite) and run \
            directories in the state directory, and runs each agent through `warden-sandbox`. It runs \
            in the foreground (as systemd expects) until SIGTERM or SIGINT, then kills every sandbox \
            and exits.

            EXAMPLES:
              wardend --foreground --state-dir /tmp/warden --socket /tmp/warden/control.sock
              sudo wardend          # /var/lib/warden and /run/warden/control.sock
            """)

    @Flag(help: "Run in the foreground, logging to stderr (wardend never daemonizes itself).")
    var foreground = false

    @Option(help: "State directory: audit.db and runs/.")
    var stateDir = ControlAPI.defaultStateDirectory

    @Option(help: "Control socket path.")
    var socket = ControlAPI.defaultSocketPath

    @Option(help: "Policies directory (default: $WARDEN_POLICY_DIR, /etc/warden/policies, or the checkout's policies/).")
    var policyDir: String?

    @Option(help: "The warden-sandbox launcher (default: next to wardend, else on PATH).")
    var launcher: String?

    @Option(help: "The warden-agent runtime (default: next to wardend, else on PATH).")
    var agent: String?

    @Option(help: "The warden-mcp relay bound into every sandbox (default: next to wardend, else on PATH; none if absent).")
    var mcpRelay: String?

    @Option(help: ArgumentHelp("Model API keys (YAML: openai_api_key, anthropic_api_key), mode 0600; the environment's OPENAI_API_KEY and ANTHROPIC_API_KEY win.",
                               valueName: "file"))
    var credentials: String?

    @Option(help: "Members of this group may use the control socket, besides root and wardend's own user.")
    var controlGroup = "warden"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wardend")
        guard let policies = PolicyLocator.policiesDirectory(explicit: policyDir) else {
            throw ValidationError("no policies directory found: pass --policy-dir or install /etc/warden/policies")
        }
        guard let launcherPath = launcher ?? PolicyLocator.executable("warden-sandbox") else {
            throw ValidationError("warden-sandbox not found next to wardend or on PATH; pass --launcher")
        }
        guard let agentPath = agent ?? PolicyLocator.executable("warden-agent") else {
            throw ValidationError("warden-agent not found next to wardend or on PATH; pass --agent")
        }
        let keys: ModelCredentials
        do { keys = try ModelCredentials.load(file: credentials) } catch { throw ValidationError(error.message) }
        var configuration = DaemonConfiguration(
            stateDirectory: absolute(stateDir), socketPath: absolute(socket), policiesDirectory: absolute(policies),
            launcherPath: absolute(launcherPath), agentPath: absolute(agentPath),
            mcpRelayPath: (mcpRelay ?? PolicyLocator.executable("warden-mcp")).map(absolute), credentials: keys)
        configuration.controlGroup = controlGroup
        do {
            try await Daemon(configuration: configuration, logger: logger).run()
        } catch {
            logger.critical("wardend cannot run: \(error)")
            throw ExitCode(1)
        }
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
