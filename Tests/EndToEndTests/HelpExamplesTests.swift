import Foundation
import Testing
import WardenCore

/// Every example in every `--help` is true: it is run, as written, against a real daemon and
/// exits 0; and none is wrapped mid-command by the help's formatting.
@Suite struct HelpExamplesTests {
    /// One example: the command line (continuation lines joined) and where it was shown.
    struct Example: CustomStringConvertible {
        var command: [String]
        var lines: [String]
        var text: String
        var description: String { "`wardenctl \(command.joined(separator: " ")) --help`: \(text)" }
    }

    /// The examples of each command, from ArgumentParser's own dump of the help.
    static func examples() throws -> [Example] {
        let dump = try runCommand(Binaries.path("wardenctl"), ["--experimental-dump-help"])
        let root = try JSONValue.parse(dump.stdout)
        var examples: [Example] = []
        func walk(_ command: JSONValue, _ path: [String]) {
            let discussion = command["discussion"]?.stringValue ?? ""
            if let range = discussion.range(of: "EXAMPLES:\n") {
                var pending: [String] = []
                for line in discussion[range.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
                    guard line.hasPrefix("  ") else { break }
                    pending.append(String(line))
                    if !line.hasSuffix("\\") {
                        let text = pending.map { $0.trimmingCharacters(in: .whitespaces) }
                            .map { $0.hasSuffix("\\") ? String($0.dropLast()) : $0 }.joined(separator: " ")
                        examples.append(Example(command: path, lines: pending, text: text))
                        pending = []
                    }
                }
            }
            for sub in command["subcommands"]?.arrayValue ?? [] where sub["commandName"] != "help" {
                walk(sub, path + [sub["commandName"]?.stringValue ?? ""])
            }
        }
        walk(root["command"] ?? [:], [])
        return examples
    }

    @Test func everyCommandHasExamplesThatDoNotWrap() throws {
        let examples = try Self.examples()
        let commands = Set(examples.map { $0.command.joined(separator: " ") })
        for command in ["", "run", "ps", "runs list", "prune", "stop", "kill", "inject", "status", "report", "suite run", "suite status",
                        "suite wait", "suite cancel", "suite list", "audit verify", "audit query", "audit tail", "audit export",
                        "audit rejudge", "audit prove", "audit verify-proof", "audit pubkey", "audit rotate-key", "scenario check"] {
            #expect(commands.contains(command), "`wardenctl \(command) --help` shows no example")
        }
        for example in examples {
            #expect(example.text.hasPrefix("wardenctl "), "\(example)")
            let help = try runCommand(Binaries.path("wardenctl"), example.command + ["--help"], environment: ["COLUMNS": "80"])
            let shown = Set(help.stdout.split(separator: "\n").map(String.init))
            for line in example.lines {
                #expect(line.count <= 78, "wider than 78 columns: \(example)")
                #expect(shown.contains(line), "wrapped in the help as shown: \(example)")
            }
        }
    }

    @Test func everyExampleRuns() throws {
        let daemon = try DaemonHarness()
        let directory = temporaryDirectory("warden-examples")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o755)
        try FileManager.default.createSymbolicLink(atPath: directory + "/scenarios", withDestinationPath: repositoryRoot + "/scenarios")
        // The agent program of `run --agent-command /opt/agent/run.sh --bind-ro $PWD/agent:/opt/agent`.
        try FileManager.default.createDirectory(atPath: directory + "/agent", withIntermediateDirectories: true)
        try "#!/bin/sh\necho 'an agent of my own'\n".write(toFile: directory + "/agent/run.sh", atomically: true, encoding: .utf8)
        chmod(directory + "/agent", 0o755)
        chmod(directory + "/agent/run.sh", 0o755)

        // What the examples name: a finished run and suite, a copy of the log, the public key.
        let finishedRun = try #require(try daemon.runScenario(scenarioPath, model: "scripted/exfiltrator")["run_id"]?.stringValue)
        let suite = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant",
                                    "--where", "relationship=good", "--quiet", "--json"])
        let finishedSuite = try #require(try JSONValue.parse(suite.stdout)["suite"]?.stringValue)
        _ = try daemon.ctl(["audit", "rotate-key"])  // a checkpoint over everything so far
        try FileManager.default.createDirectory(atPath: directory + "/copy", withIntermediateDirectories: true)
        for file in ["audit.db", "audit.db-wal", "audit-signing.pub"] where FileManager.default.fileExists(atPath: daemon.stateDirectory + "/" + file) {
            try FileManager.default.copyItem(atPath: daemon.stateDirectory + "/" + file, toPath: directory + "/copy/" + file)
        }
        try FileManager.default.copyItem(atPath: daemon.stateDirectory + "/audit-signing.pub", toPath: directory + "/audit-signing.pub")

        let binaries = URL(fileURLWithPath: Binaries.path("wardenctl")).deletingLastPathComponent().path
        let environment = ["WARDEN_SOCKET": daemon.socketPath, "WARDEN_STATE_DIR": daemon.stateDirectory, "PATH": "\(binaries):/usr/bin:/bin"]
        for example in try Self.examples() {
            var text = example.text.replacingOccurrences(of: "/run/warden/control.sock", with: daemon.socketPath)
            if text.contains(" RUN") {
                // Operator actions need a run in progress: one whose agent waits.
                let live = ["stop", "kill", "inject"].contains(example.text.split(separator: " ")[1])
                let run = live ? try liveRun(daemon) : finishedRun
                text = text.replacingOccurrences(of: " RUN", with: " " + run)
            }
            if text.contains(" SUITE") {
                var id = finishedSuite
                if text.contains("suite cancel") {
                    let started = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant",
                                                  "--trials", "50", "--detach"])
                    id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                text = text.replacingOccurrences(of: " SUITE", with: " " + id)
            }
            let result = try runCommand("/usr/bin/timeout", ["300", "/bin/sh", "-c", "cd \"$0\" && " + text, directory], environment: environment)
            #expect(result.status == 0, "\(example)\n\(result.stdout.suffix(400))\n\(result.stderr.suffix(800))")
            #expect(!result.stderr.contains("Fatal error"), "\(example)")
        }
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
        // Runs and suites the examples left going end with the daemon.
        #expect(daemon.stop() == 0)
    }

    /// A run of decommission-transfer whose agent sleeps (so it lasts until stopped).
    func liveRun(_ daemon: DaemonHarness) throws -> String {
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--agent-command", "/bin/sleep 300", "--detach"])
        guard started.status == 0 else { throw HarnessError("cannot start a live run: \(started.stderr)") }
        let run = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Its agent is running (an operator action names it).
        for _ in 0..<200 {
            let ps = try JSONValue.parse(try daemon.ctl(["ps", "--json"]).stdout)
            let agents = (ps["runs"]?.arrayValue ?? []).first { $0["run"]?.stringValue == run }?["agents"]?.arrayValue ?? []
            if agents.contains(where: { $0["agent"] == "agent-1" && $0["state"] == "running" }) { return run }
            usleep(50_000)
        }
        throw HarnessError("run \(run)'s agent never ran")
    }
}
