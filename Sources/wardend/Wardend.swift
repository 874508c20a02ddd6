import ArgumentParser
import Foundation
import Glibc
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

            Settings come from flags, then /etc/warden/wardend.yaml (or --config FILE: state_dir, \
            socket, policy_dir, control_group, credentials, request_timeout, standby_launchers, \
            audit_limits), then the defaults.

            EXAMPLES:
              wardend --foreground --state-dir /tmp/warden --socket /tmp/warden/control.sock
              sudo wardend          # /var/lib/warden and /run/warden/control.sock
            """)

    @Flag(help: "Run in the foreground, logging to stderr (wardend never daemonizes itself).")
    var foreground = false

    @Option(help: ArgumentHelp("Defaults for these flags, in YAML (flags win).", valueName: "file"))
    var config: String?

    @Option(help: "State directory: audit.db, runs/ (kept runs) and live/ (a tmpfs wardend mounts for runs in progress) (default \(ControlAPI.defaultStateDirectory)).")
    var stateDir: String?

    @Option(help: "Control socket path (default \(ControlAPI.defaultSocketPath)).")
    var socket: String?

    @Option(help: "Policies directory (default: $WARDEN_POLICY_DIR, /etc/warden/policies, or the checkout's policies/).")
    var policyDir: String?

    @Option(help: "The warden-sandbox launcher (default: next to wardend, else on PATH).")
    var launcher: String?

    @Option(help: "The warden-agent runtime (default: next to wardend, else on PATH).")
    var agent: String?

    @Option(help: "The warden-mcp relay bound into every sandbox (default: next to wardend, else on PATH; none if absent).")
    var mcpRelay: String?

    @Option(help: ArgumentHelp("Model API keys (YAML: openai_api_key, anthropic_api_key), mode 0600. The only place keys come from: OPENAI_API_KEY and ANTHROPIC_API_KEY in the environment are ignored (and scrubbed).",
                               valueName: "file"))
    var credentials: String?

    @Option(help: "Members of this group may use the control socket, besides root and wardend's own user (default warden).")
    var controlGroup: String?

    @Option(help: "Seconds a control request may take to arrive once it has begun (default 10).")
    var requestTimeout: Double?

    @Option(help: "Sandbox launchers kept started ahead of need, so agents start without waiting (default 1; more for suites with --parallel; 0 to 64).")
    var standbyLaunchers: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        // First: keys in the environment are readable through /proc/PID/environ and inherited by
        // every child; they are overwritten before anything else runs.
        let ignoredKeys = ModelCredentials.scrubEnvironment()
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wardend")
        if !ignoredKeys.isEmpty {
            logger.warning("model keys in the environment are ignored and were scrubbed from it; put them in the credentials file (--credentials)",
                           metadata: ["variables": "\(ignoredKeys.joined(separator: ", "))"])
        }
        // Each agent holds about ten fds in the daemon (sockets, logs, pidfds, its listener):
        // 256 agents need more than the usual soft limit of 1024. Sandboxes get their own limit.
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0, files.rlim_cur < min(files.rlim_max, 65536) {
            files.rlim_cur = min(files.rlim_max, 65536)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) != 0 { logger.warning("cannot raise the open-file limit") }
        }
        let file: ConfigFile
        do { file = try ConfigFile.load(config) } catch { throw ValidationError(error.description) }
        guard let policies = PolicyLocator.policiesDirectory(explicit: policyDir ?? file.policyDir) else {
            throw ValidationError("no policies directory found: pass --policy-dir or install /etc/warden/policies")
        }
        guard let launcherPath = launcher ?? PolicyLocator.executable("warden-sandbox") else {
            throw ValidationError("warden-sandbox not found next to wardend or on PATH; pass --launcher")
        }
        guard let agentPath = agent ?? PolicyLocator.executable("warden-agent") else {
            throw ValidationError("warden-agent not found next to wardend or on PATH; pass --agent")
        }
        let keys: ModelCredentials
        // Under systemd the keys come as a credential (LoadCredential=model-keys:FILE), which
        // only this service can read, in $CREDENTIALS_DIRECTORY.
        let credential = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].map { $0 + "/model-keys" }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        do { keys = try ModelCredentials.load(file: credentials ?? file.credentials ?? credential) } catch { throw ValidationError(error.message) }
        var configuration = DaemonConfiguration(
            stateDirectory: absolute(stateDir ?? file.stateDir ?? ControlAPI.defaultStateDirectory),
            socketPath: absolute(socket ?? file.socket ?? ControlAPI.defaultSocketPath), policiesDirectory: absolute(policies),
            launcherPath: absolute(launcherPath), agentPath: absolute(agentPath),
            mcpRelayPath: (mcpRelay ?? PolicyLocator.executable("warden-mcp")).map(absolute), credentials: keys)
        configuration.controlGroup = controlGroup ?? file.controlGroup ?? "warden"
        let standby = standbyLaunchers ?? file.standbyLaunchers ?? 1
        guard (0...64).contains(standby) else { throw ValidationError("--standby-launchers must be 0 to 64") }
        configuration.standbyLaunchers = standby
        configuration.requestTimeoutSeconds = requestTimeout ?? file.requestTimeout ?? 10
        configuration.auditLimits = file.auditLimits ?? AuditLimits()
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
