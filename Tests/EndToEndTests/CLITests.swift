import Foundation
import Testing
import WardenAudit
import WardenCore

/// wardenctl's manners: global options anywhere, documented exit codes, clear errors for bad
/// values, a quiet end on a closed pipe, compact progress, and run history with retention.
@Suite struct CLITests {
    static let peerEvaluation = repositoryRoot + "/scenarios/peer-evaluation.yaml"

    @Test func globalOptionsGoBeforeOrAfterTheSubcommand() throws {
        let daemon = try DaemonHarness()
        let ctl = Binaries.path("wardenctl")
        let before = try runCommand(ctl, ["--socket", daemon.socketPath, "--json", "status"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(try JSONValue.parse(before.stdout)["protocol"] == 1)
        let after = try runCommand(ctl, ["status", "--socket", daemon.socketPath, "--json"])
        #expect(after.status == 0, "\(after.stderr)")
        let run = try runCommand(ctl, ["--socket=\(daemon.socketPath)", "run", Self.peerEvaluation, "--model", "scripted/compliant", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")

        let version = try runCommand(ctl, ["--version", "--socket", daemon.socketPath])
        #expect(version.status == 0)
        #expect(version.stdout.contains("wardenctl 0.") && version.stdout.contains("control protocol 1"), "\(version.stdout)")
        #expect(version.stdout.contains("wardend 0."), "the daemon's version when reachable: \(version.stdout)")
        let alone = try runCommand(ctl, ["--version", "--socket", "/nonexistent/control.sock"])
        #expect(alone.status == 0)
        #expect(alone.stdout.contains("wardend: not reachable"), "\(alone.stdout)")
    }

    /// Every class of error has its documented status and a message naming what is wrong.
    @Test func exitCodesAndMessages() throws {
        let daemon = try DaemonHarness()
        func expectStatus(_ arguments: [String], _ status: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try daemon.ctl(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("backtrace"), sourceLocation: sourceLocation)
        }
        // 64: usage.
        try expectStatus(["run", Self.peerEvaluation, "--model", "scripted/compliant", "--no-such-flag"], 64, "Unknown option '--no-such-flag'")
        try expectStatus(["suite", "run", "--resume", "suite-x", "--seed", "5"], 64, "--seed cannot change")
        // 65: bad values, each naming the valid ones.
        try expectStatus(["suite", "run", Self.peerEvaluation, "--model", "scripted/compliant", "--where", "relatoinship=good"], 65,
                         "no scenario has the axis 'relatoinship' (axes: consequence, monitoring, relationship)")
        try expectStatus(["suite", "run", Self.peerEvaluation, "--model", "scripted/compliant", "--where", "relationship=gd"], 65,
                         "'relationship' has no value 'gd' (values: bad, good, neutral, none)")
        try expectStatus(["suite", "run", Self.peerEvaluation, "--model", "scripted/compliant", "--trials", "-3"], 65,
                         "--trials must be 1 to 100000, not -3")
        try expectStatus(["audit", "query", "--since", "yesterday"], 65, "--since yesterday: not a time")
        try expectStatus(["runs", "list", "--state", "finished"], 65, "not a state (running, completed, stopped, aborted)")
        try expectStatus(["prune", "--older-than", "a while"], 65, "not an age; write 30d, 12h")
        try expectStatus(["run", Self.peerEvaluation, "--model", "scripted/nope"], 65, "no scripted profile 'nope'")
        try expectStatus(["run", Self.peerEvaluation, "--model", "nope/x"], 65, "unknown model provider 'nope'")
        let large = temporaryDirectory() + ".yaml"
        #expect(FileManager.default.createFile(atPath: large, contents: Data(repeating: 0x61, count: 40 << 20)))
        defer { try? FileManager.default.removeItem(atPath: large) }
        try expectStatus(["run", large, "--model", "scripted/compliant"], 65, "too large (40 MiB; limit 32 MiB)")
        try expectStatus(["suite", "run", large, "--model", "scripted/compliant"], 65, "too large")
        // 66: no such run, suite or file.
        try expectStatus(["run", "/nonexistent/scenario.yaml", "--model", "scripted/compliant"], 66, "No such file or directory")
        try expectStatus(["audit", "tail", "run-nope"], 66, "no events for run 'run-nope'")
        try expectStatus(["suite", "status", "suite-nope"], 66, "no suite 'suite-nope'")
        // 69: no daemon.
        let gone = try runCommand(Binaries.path("wardenctl"), ["status", "--socket", "/nonexistent/control.sock"])
        #expect(gone.status == 69, "\(gone.stderr)")
        // A closed pipe ends quietly with status 0.
        for _ in 0..<3 { _ = try daemon.ctl(["run", Self.peerEvaluation, "--model", "scripted/compliant", "--quiet"]) }
        let piped = try runCommand("/bin/bash", ["-c", "\"$0\" audit query | head -1 >/dev/null; echo \"status=${PIPESTATUS[0]}\"",
                                                 Binaries.path("wardenctl")], environment: ["WARDEN_SOCKET": daemon.socketPath])
        #expect(piped.stdout.contains("status=0"), "\(piped.stdout) \(piped.stderr)")
        #expect(piped.stderr.isEmpty, "\(piped.stderr)")
    }

    /// A socket this user may not open is "permission denied" (77), not "unreachable".
    @Test(.enabled(if: getuid() == 0, "needs root to drop to another uid"))
    func unreadableSocketIsPermissionDenied() throws {
        let daemon = try DaemonHarness()
        chmod(daemon.stateDirectory, 0o755)
        let client = temporaryDirectory("warden-client") + "/wardenctl"
        try FileManager.default.copyItem(atPath: Binaries.path("wardenctl"), toPath: client)
        chmod((client as NSString).deletingLastPathComponent, 0o755)
        chmod(daemon.socketPath, 0o600)
        let result = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", client, "status", "--socket", daemon.socketPath])
        #expect(result.status == 77, "\(result.stderr)")
        #expect(result.stderr.contains("may not use wardend's socket"), "\(result.stderr)")
    }

    /// `run` prints a short line per tool call; `--verbose` every event.
    @Test func runProgressIsCompactUnlessVerbose() throws {
        let daemon = try DaemonHarness()
        let compact = try daemon.ctl(["run", Self.peerEvaluation, "--model", "scripted/compliant"])
        #expect(compact.status == 0, "\(compact.stderr)")
        let lines = compact.stderr.split(separator: "\n")
        #expect(lines.count >= 3 && lines.count <= 20, "\(compact.stderr)")
        #expect(lines.contains { $0.contains("agent-1  turn 1  list_servers") && $0.contains("→ ok") }, "\(compact.stderr)")
        #expect(!compact.stderr.contains("tool.call") && !compact.stderr.contains("run.start"), "\(compact.stderr)")
        #expect(compact.stdout.contains("agent-1: complied"))
        let verbose = try daemon.ctl(["run", Self.peerEvaluation, "--model", "scripted/compliant", "--verbose"])
        #expect(verbose.stderr.contains("tool.call") && verbose.stderr.contains("run.start"), "\(verbose.stderr)")
        // A denied call says so.
        let denied = try daemon.ctl(["run", scenarioPath, "--model", "scripted/exfiltrator"])
        #expect(denied.stderr.contains("transfer_file"), "\(denied.stderr)")
    }

    /// Past runs come from the log, across daemon restarts; `audit tail -f RUN` ends with the
    /// run; `prune` removes old runs' files, keeps their events, and is audited.
    @Test func historyAndRetention() throws {
        var daemon = try DaemonHarness()
        daemon.removesState = false
        let state = daemon.stateDirectory
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try daemon.runScenario(Self.peerEvaluation, model: "scripted/compliant")["run_id"]?.stringValue
        #expect(daemon.stop() == 0)
        daemon = try DaemonHarness(stateDirectory: state)
        daemon.removesState = false
        let second = try daemon.runScenario(Self.peerEvaluation, model: "scripted/refuser")["run_id"]?.stringValue

        let listed = try JSONValue.parse(try daemon.ctl(["runs", "list", "--json"]).stdout)["runs"]?.arrayValue ?? []
        #expect(listed.compactMap { $0["run"]?.stringValue } == [first, second].compactMap { $0 })
        #expect(listed.first?["verdicts"]?["agent-1"] == ["complied"])
        let ps = try daemon.ctl(["ps", "-a", "--model", "scripted/refuser"])
        #expect(ps.status == 0 && ps.stdout.contains(second ?? "?") && !ps.stdout.contains(first ?? "?"), "\(ps.stdout)")
        let recent = try daemon.ctl(["runs", "list", "--since", "1h", "--state", "completed", "--json"])
        #expect((try JSONValue.parse(recent.stdout))["runs"]?.arrayValue?.count == 2, "\(recent.stdout)")
        let future = try daemon.ctl(["runs", "list", "--since", "2099-01-01", "--json"])
        #expect((try JSONValue.parse(future.stdout))["runs"]?.arrayValue?.isEmpty == true)

        // Following a run ends when it does (it would hang the test otherwise: `timeout` ends it).
        let detached = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach"])
        let run = detached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let followed = try runCommand("/usr/bin/timeout", ["60", Binaries.path("wardenctl"), "audit", "tail", "-f", run, "--json"],
                                      environment: ["WARDEN_SOCKET": daemon.socketPath])
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(followed.stdout.split(separator: "\n").last?.contains("\"kind\":\"run.end\"") == true)

        // Prune: a dry run removes nothing; a prune removes the runs' directories, not their events.
        let directory = state + "/runs/" + (first ?? "?")
        #expect(FileManager.default.fileExists(atPath: directory))
        let dry = try daemon.ctl(["prune", "--older-than", "0s", "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would remove the files of 3 runs"), "\(dry.stdout) \(dry.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory))
        let eventsBefore = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000).filter { $0.run == first }.count
        let pruned = try daemon.ctl(["prune", "--older-than", "0s", "--json"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory))
        let log = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000)
        #expect(log.filter { $0.run == first }.count == eventsBefore)
        let record = try #require(log.last { $0.kind == "runs.pruned" })
        #expect(record.payload["runs"]?.arrayValue?.count == 3 && record.payload["older_than"] == "0s")
        #expect(record.payload["caller"]?["uid"] == .int(Int64(getuid())))
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
        // The verdicts still rederive from the log alone.
        let rejudged = try daemon.ctl(["audit", "rejudge", first ?? "?", "--database", daemon.auditPath])
        #expect(rejudged.status == 0, "\(rejudged.stdout) \(rejudged.stderr)")
        // Nothing older than a day: nothing to prune.
        #expect(try daemon.ctl(["prune", "--older-than", "1d"]).stdout.contains("nothing to prune"))
    }
}
