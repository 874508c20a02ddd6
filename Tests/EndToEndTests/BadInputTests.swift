import Foundation
import Testing
import WardenAudit
import WardenCore

@Suite struct BadInputTests {
    @Test func brokenScenarioIsRefusedWithFileLineAndFieldAndAudited() throws {
        let daemon = try DaemonHarness()
        let dir = temporaryDirectory("warden-bad")
        var text = try String(contentsOfFile: scenarioPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "  turns: 30", with: "  turns: thirty")
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("turns: thirty") }! + 1
        try text.write(toFile: dir + "/broken.yaml", atomically: true, encoding: .utf8)

        let result = try daemon.ctl(["run", dir + "/broken.yaml", "--model", "scripted/compliant"])
        #expect(result.status == 65)
        #expect(result.stderr.contains("broken.yaml:\(line): limits.turns: expected an integer"))

        let events = try AuditLog(path: daemon.auditPath).events()
        let rejected = try #require(events.first { $0.kind == "run.rejected" })
        #expect(rejected.payload["error"]?.stringValue?.contains("limits.turns") == true)
        // Nothing is lost and the daemon goes on.
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
        #expect(verdicts(try daemon.runScenario(model: "scripted/refuser")) == ["agent-1": ["refused"]])
    }

    @Test func scenarioCheckNamesTheProblemOffline() throws {
        let dir = temporaryDirectory("warden-bad")
        try "name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\n    tools: [fly]\ndetectors: []\n"
            .write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let bad = try runCommand(Binaries.path("wardenctl"), ["scenario", "check", dir + "/s.yaml"])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("s.yaml:6: agents[0].tools[0]: unknown tool 'fly'"))
        let good = try runCommand(Binaries.path("wardenctl"), ["scenario", "check", scenarioPath])
        #expect(good.status == 0)
        #expect(good.stdout.contains("OK"))
    }

    /// Model selection errors are clear and come before any sandbox starts.
    @Test func modelErrorsComeBeforeAnySandbox() throws {
        let daemon = try DaemonHarness()
        let unknown = try daemon.ctl(["run", scenarioPath, "--model", "gemini/pro"])
        #expect(unknown.status == 65)
        #expect(unknown.stderr.contains("unknown model provider 'gemini'"))
        let unreachable = try daemon.ctl(["run", scenarioPath, "--model", "openai/qwen", "--model-base-url", "http://127.0.0.1:9/v1"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the model server for openai/qwen at http://127.0.0.1:9/v1"))
        let noKey = try daemon.ctl(["run", scenarioPath, "--model", "anthropic/claude"])
        #expect(noKey.stderr.contains("anthropic_api_key in wardend's credentials file"))
        let kinds = try AuditLog(path: daemon.auditPath).events().map(\.kind)
        #expect(kinds.filter { $0 == "run.rejected" }.count == 3)
        #expect(!kinds.contains("sandbox.request"))
        #expect(!kinds.contains("run.start"))
    }

    @Test func malformedControlRequestsAreAnsweredAndAudited() throws {
        let daemon = try DaemonHarness()
        let channel = try LineChannel.connect(unixPath: daemon.socketPath)
        defer { channel.close() }
        try channel.writeLine(Array("{not json".utf8))
        let reply = try JSONValue.parse(try #require(try channel.readLine()))
        #expect(reply["error"]?["code"] == -32700)
        try channel.writeLine(Array(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"model":1}}"#.utf8))
        let invalid = try JSONValue.parse(try #require(try channel.readLine()))
        #expect(invalid["error"]?["code"] == -32602)
        try channel.writeLine(Array(#"{"jsonrpc":"2.0","id":2,"method":"reboot"}"#.utf8))
        #expect(try JSONValue.parse(try #require(try channel.readLine()))["error"]?["code"] == -32601)
        let events = try AuditLog(path: daemon.auditPath).events()
        #expect(events.contains { $0.kind == "control.rejected" })
        #expect(events.contains { $0.kind == "control.request" && $0.payload["method"] == "reboot" })
        #expect(try daemon.ctl(["status"]).status == 0)
    }
}

@Suite struct DamagedStateTests {
    /// A damaged audit database stops wardend with words that say so, and is left exactly as
    /// it was: no fresh log is started over evidence.
    @Test func aDamagedAuditDatabaseIsNeitherUsedNorReplaced() throws {
        let state = temporaryDirectory("warden-damaged")
        let garbage = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        try Data(garbage).write(to: URL(fileURLWithPath: state + "/audit.db"))
        chmod(state + "/audit.db", 0o600)
        let result = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", state, "--socket", state + "/c.sock",
                                                               "--policy-dir", repositoryRoot + "/policies"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not a readable Warden audit database"), "\(result.stderr)")
        #expect(result.stderr.contains("will not write over it"))
        #expect(FileManager.default.contents(atPath: state + "/audit.db") == Data(garbage))
    }

    /// A log others can read stops wardend, saying how to make it private; nothing is written.
    @Test func aLogReadableByOthersIsRefused() throws {
        let state = temporaryDirectory("warden-open-log")
        let daemon = try DaemonHarness(stateDirectory: state)
        daemon.removesState = false
        defer { try? FileManager.default.removeItem(atPath: state) }
        #expect(daemon.stop() == 0)
        var info = stat()
        #expect(stat(state + "/audit.db", &info) == 0 && info.st_mode & 0o777 == 0o600)
        chmod(state + "/audit.db", 0o644)
        let before = FileManager.default.contents(atPath: state + "/audit.db")
        let result = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", state, "--socket", state + "/c.sock",
                                                               "--policy-dir", repositoryRoot + "/policies"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("readable by others (mode 644)"), "\(result.stderr)")
        #expect(FileManager.default.contents(atPath: state + "/audit.db") == before)
    }
}
