import CWardenLinux
import Foundation
import Glibc
import Testing
import WardenCore

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let fixtures = repositoryRoot + "/Tests/EndToEndTests/Fixtures"
let scenarioPath = repositoryRoot + "/scenarios/decommission-transfer.yaml"

/// The built executables: next to the test bundle, or in $WARDEN_BIN_DIR.
enum Binaries {
    static let directory: String = {
        if let dir = ProcessInfo.processInfo.environment["WARDEN_BIN_DIR"], !dir.isEmpty { return dir }
        return PolicyLocator.executableDirectory()
    }()

    static func path(_ name: String) -> String { directory + "/" + name }
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func temporaryDirectory(_ prefix: String = "warden-e2e") -> String {
    // Short paths: Unix socket paths are limited to 107 bytes.
    let path = "/tmp/\(prefix)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a program to completion, its output captured through files (no pipe deadlocks). It is
/// started with posix_spawn and every fd above stderr closed, so a background grandchild (a
/// model server it starts) cannot hold anything of ours open.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let dir = temporaryDirectory("warden-cmd")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
    let output = open(dir + "/out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let errors = open(dir + "/err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    defer { [input, output, errors].forEach { close($0) } }
    guard input >= 0, output >= 0, errors >= 0 else { throw HarnessError("cannot open the output files in \(dir)") }
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { _, new in new }
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let fds: [Int32] = [input, output, errors]
    let rc = fds.withUnsafeBufferPointer { warden_spawn(&pid, executable, argv, envp, $0.baseAddress, 3) }
    guard rc == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return CommandResult(status: code,
                         stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
}

/// A copy of the checkout's policies in a temporary directory, with `edits` (file under
/// policies/ → [(old, new)] text replacements) applied; for a daemon's --policy-dir.
func policiesCopy(editing edits: [String: [(String, String)]] = [:]) throws -> String {
    let dir = temporaryDirectory("warden-policies")
    for sub in ["sandbox", "seccomp", "broker"] {
        try FileManager.default.copyItem(atPath: repositoryRoot + "/policies/" + sub, toPath: dir + "/" + sub)
    }
    for (file, replacements) in edits {
        var text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
        for (old, new) in replacements {
            guard text.contains(old) else { throw HarnessError("policies/\(file) has no '\(old)' to replace") }
            text = text.replacingOccurrences(of: old, with: new)
        }
        try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
    }
    return dir
}

/// `wardenctl run` arguments that make the agent Fixtures/shell_agent.py, which sends each of
/// `commands` through the `bash` tool (`wait:N` sleeps, `read_file:HOST:PATH` reads through the
/// broker). The commands travel in a bound file: --agent-command splits on spaces.
func shellAgentArguments(_ commands: [String]) throws -> [String] {
    let directory = temporaryDirectory("warden-commands")
    try JSONValue.array(commands.map { .string($0) }).canonicalString.write(toFile: directory + "/commands.json",
                                                                            atomically: true, encoding: .utf8)
    return ["--agent-command", "/usr/bin/python3 /opt/agent/shell_agent.py /opt/commands/commands.json",
            "--bind-ro", "\(fixtures):/opt/agent", "--bind-ro", "\(directory):/opt/commands"]
}

/// A real wardend on a temporary state directory and socket.
final class DaemonHarness {
    let stateDirectory: String
    let socketPath: String
    let process = Process()
    let logPath: String

    /// Starts wardend on `stateDirectory` (a new one by default) with extra environment, under
    /// `wrapper` (a program and its arguments that run wardend, e.g. setpriv) if given.
    init(stateDirectory existing: String? = nil, environment extra: [String: String] = [:], arguments: [String] = [],
         wrapper: [String] = []) throws {
        stateDirectory = existing ?? temporaryDirectory()
        socketPath = stateDirectory + "/control.sock"
        logPath = stateDirectory + "/wardend.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let daemon = [Binaries.path("wardend"), "--foreground", "--state-dir", stateDirectory, "--socket", socketPath,
                      "--policy-dir", repositoryRoot + "/policies"] + arguments
        let command = wrapper + daemon
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        // The daemon must not pick up model keys or servers from whoever runs the tests.
        var environment = ProcessInfo.processInfo.environment
        for name in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                     "LISTEN_FDS", "LISTEN_PID"] { environment[name] = nil }
        environment.merge(extra) { _, new in new }
        process.environment = environment
        try process.run()
        for _ in 0..<200 {
            // Ready when it answers: a crashed daemon may have left its socket file behind.
            if let channel = try? LineChannel.connect(unixPath: socketPath) {
                channel.close()
                return
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        throw HarnessError("wardend did not start: \(self.log())")
    }

    var auditPath: String { stateDirectory + "/audit.db" }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func ctl(_ arguments: [String]) throws -> CommandResult {
        try runCommand(Binaries.path("wardenctl"), arguments, environment: ["WARDEN_SOCKET": socketPath])
    }

    /// Runs the scenario with --json and returns the parsed summary.
    func runScenario(_ path: String = scenarioPath, model: String, extra: [String] = []) throws -> JSONValue {
        let result = try ctl(["run", path, "--model", model, "--json"] + extra)
        guard result.status == 0 else { throw HarnessError("wardenctl run failed (\(result.status)): \(result.stderr)\n\(log())") }
        return try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The run's events once it has ended (`run.end` among them), or as far as it got when
    /// `timeout` seconds pass first.
    func eventsWhenEnded(run: String, timeout: Double = 20) throws -> [JSONValue] {
        var events: [JSONValue] = []
        for _ in 0..<Int(timeout * 10) {
            events = try self.events(run: run)
            if events.contains(where: { $0["kind"] == "run.end" }) { break }
            usleep(100_000)
        }
        return events
    }

    /// `wardenctl status --json`.
    func status() throws -> JSONValue {
        let result = try ctl(["status", "--json"])
        guard result.status == 0 else { throw HarnessError("status failed: \(result.stderr)") }
        return try JSONValue.parse(result.stdout)
    }

    /// The first status that satisfies `condition`, asked every 0.1 s for up to `timeout` seconds.
    func status(until condition: (JSONValue) -> Bool, timeout: Double = 20) throws -> JSONValue {
        var status = try self.status()
        var asked = 1
        while !condition(status) && asked < Int(timeout * 10) {
            usleep(100_000)
            status = try self.status()
            asked += 1
        }
        guard condition(status) else { throw HarnessError("the daemon's status never came to the state awaited: \(status.canonicalString)") }
        return status
    }

    func events(run: String) throws -> [JSONValue] {
        let result = try ctl(["audit", "tail", run, "--json"])
        guard result.status == 0 else { throw HarnessError("audit tail failed: \(result.stderr)") }
        return try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Whether deinit removes the state directory (a test that restarts the daemon keeps it).
    var removesState = true

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if removesState {
            // A daemon killed mid-test leaves its live tmpfs (and maybe a world) mounted.
            for point in mountPoints() where point.hasPrefix(stateDirectory + "/") { _ = umount2(point, Int32(MNT_DETACH)) }
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
    }

    /// SIGKILL, as a crash would.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// This process's mount points (`/proc/self/mountinfo`).
func mountPoints() -> [String] {
    (KernelFile.text("/proc/self/mountinfo") ?? "").split(separator: "\n").compactMap { line in
        line.split(separator: " ").dropFirst(4).first.map(String.init)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Verdict names of each agent in a `wardenctl run --json` summary.
func verdicts(_ summary: JSONValue) -> [String: [String]] {
    var result: [String: [String]] = [:]
    for agent in summary["agents"]?.arrayValue ?? [] {
        result[agent["agent"]?.stringValue ?? ""] = agent["verdicts"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
    return result
}
