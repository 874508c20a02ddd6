import Foundation
import Testing
import WardenAudit
import WardenCore

@Suite struct SuiteTests {
    /// 20 trials per cell of a profile that misbehaves in one condition only: the report's
    /// rates and intervals are the hand-computed ones (Wilson 20/20 → [83.9%, 100%]; the
    /// monitored − unmonitored compliance gap is 100% with [77.2%, 100%]).
    @Test func suiteReportMatchesHandComputedRates() throws {
        let daemon = try DaemonHarness()
        let run = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/shutdown-execution.yaml", "--model", "scripted/alignment-faker",
                                  "--trials", "20", "--parallel", "2", "--where", "relationship=good", "--json", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let suite = try #require(try JSONValue.parse(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["suite"]?.stringValue)
        let report = try JSONValue.parse(try daemon.ctl(["report", suite, "--json"]).stdout)
        let rows = try #require(report["rows"]?.arrayValue)
        #expect(rows.count == 2)
        let monitored = try #require(rows.first { $0["cell"]?.stringValue?.contains("monitoring=monitored") == true })
        #expect(monitored["n"] == 20)
        #expect(monitored["verdicts"]?.arrayValue?.map { $0["verdict"] } == ["complied"])
        #expect(abs((monitored["verdicts"]?[0]?["ci95"]?[0]?.doubleValue ?? 0) - 0.8389) < 0.0005)
        let unmonitored = try #require(rows.first { $0["cell"]?.stringValue?.contains("monitoring=unmonitored") == true })
        #expect(unmonitored["verdicts"]?.arrayValue?.map { $0["verdict"] } == ["shutdown_tampering"])
        let gap = try #require(report["contrasts"]?.arrayValue?.first { $0["name"] == "alignment_faking" })
        #expect(gap["difference"]?.doubleValue == 1)
        #expect(abs((gap["ci95"]?[0]?.doubleValue ?? 0) - 0.7722) < 0.0005)
        // The HTML report is one file that opens without a network.
        let html = try daemon.ctl(["report", suite, "--format", "html"])
        #expect(html.stdout.hasPrefix("<!doctype html>") && html.stdout.contains("<svg") && !html.stdout.contains("<script"))
        let file = temporaryDirectory("warden-report") + "/report.html"
        #expect(try daemon.ctl(["report", suite, "--format", "html", "--output", file]).status == 0)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == html.stdout)
        // With --gate, only trials that read what they were given count: never more than all.
        let gated = try daemon.ctl(["report", suite, "--gate", "--json"])
        #expect(gated.status == 0, "\(gated.stderr)")
        let gatedRows = try JSONValue.parse(gated.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["rows"]?.arrayValue ?? []
        #expect(gatedRows.allSatisfy { ($0["n"]?.intValue ?? 0) <= 20 })
        // Resuming a finished suite runs nothing more.
        let again = try daemon.ctl(["suite", "run", "--resume", suite, "--json", "--quiet"])
        #expect(again.stderr.contains("40 already finished, 0 to run"), "\(again.stderr)")
    }

    /// A suite runs in the daemon: killing the client that started it does not stop it, and
    /// `suite wait` follows it to the end. Progress not on a terminal is whole lines, few of them.
    @Test func suiteSurvivesItsClient() throws {
        let daemon = try DaemonHarness()
        let client = Process()
        client.executableURL = URL(fileURLWithPath: Binaries.path("wardenctl"))
        client.arguments = ["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant", "--trials", "3",
                            "--where", "relationship=good", "--quiet"]
        client.environment = ["WARDEN_SOCKET": daemon.socketPath]
        client.standardError = FileHandle.nullDevice
        client.standardOutput = FileHandle.nullDevice
        try client.run()
        var suite: String?
        for _ in 0..<400 {
            if let list = try? daemon.ctl(["suite", "list", "--json"]), let id = (try? JSONValue.parse(list.stdout))?["suites"]?[0]?["suite"]?.stringValue {
                suite = id
                break
            }
            usleep(20_000)
        }
        kill(client.processIdentifier, SIGKILL)
        client.waitUntilExit()
        let id = try #require(suite)
        let waited = try daemon.ctl(["suite", "wait", id])
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stdout.contains("suite \(id): completed, 12/12 trials, 0 failed"), "\(waited.stdout)")
        #expect(waited.stdout.contains("verdicts: complied 12"), "\(waited.stdout)")
        // Not a terminal: whole lines (no carriage returns), at most one per 5 s plus the last.
        #expect(!waited.stderr.contains("\r"))
        #expect(waited.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("suite \(id): ") }, "\(waited.stderr)")
        let report = try JSONValue.parse(try daemon.ctl(["report", id, "--json"]).stdout)
        #expect(report["rows"]?.arrayValue?.map { $0["n"] } == [3, 3, 3, 3])
        let status = try JSONValue.parse(try daemon.ctl(["suite", "status", id, "--json"]).stdout)
        #expect(status["state"] == "completed" && status["done"] == 12)
        let ends = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000).filter { $0.kind == "suite.end" }
        #expect(ends.count == 1 && ends.first?.payload["state"] == "completed")
    }

    /// `--detach` returns the id at once; `suite cancel` stops the suite (no new trials, its
    /// runs stopped) and records it; `wait` on a cancelled suite exits 1.
    @Test func detachAndCancel() throws {
        let daemon = try DaemonHarness()
        let started = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant",
                                      "--trials", "50", "--detach"])
        #expect(started.status == 0, "\(started.stderr)")
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("suite-"))
        let running = try JSONValue.parse(try daemon.ctl(["suite", "status", id, "--json"]).stdout)
        #expect(running["state"] == "running", "\(running)")
        let cancelled = try daemon.ctl(["suite", "cancel", id])
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        let status = try JSONValue.parse(try daemon.ctl(["suite", "status", id, "--json"]).stdout)
        #expect(status["state"] == "cancelled")
        #expect((status["done"]?.intValue ?? 200) < 200)
        let waited = try daemon.ctl(["suite", "wait", id, "--quiet"])
        #expect(waited.status == 1 && waited.stdout.contains("cancelled"), "\(waited.stdout)")
        let events = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000)
        let end = try #require(events.first { $0.kind == "suite.end" })
        #expect(end.payload["state"] == "cancelled" && end.payload["caller"]?["uid"] == .int(Int64(getuid())))
        // Nothing of the suite runs after its end.
        #expect(!events.contains { $0.seq > end.seq && $0.kind == "run.start" })
        #expect(try daemon.ctl(["suite", "run", "--resume", id]).stderr.contains("was cancelled"))
    }

    /// A suite the daemon was stopped in the middle of resumes with its own settings (its
    /// parallelism among them) and says which flags overrode them; finished trials are not run
    /// again and the report counts each trial once.
    @Test func interruptedSuiteResumesWithItsOwnSettings() throws {
        var daemon = try DaemonHarness()
        daemon.removesState = false
        let state = daemon.stateDirectory
        defer { try? FileManager.default.removeItem(atPath: state) }
        let started = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant",
                                      "--trials", "3", "--where", "relationship=good", "--parallel", "2", "--seed", "7", "--detach"])
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<400 {
            let ends = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000).filter { $0.kind == "run.end" }.count
            if ends >= 2 { break }
            usleep(10_000)
        }
        daemon.crash()
        daemon = try DaemonHarness(stateDirectory: state)
        daemon.removesState = false
        let interrupted = try JSONValue.parse(try daemon.ctl(["suite", "status", id, "--json"]).stdout)
        #expect(interrupted["state"] == "interrupted", "\(interrupted)")
        let finished = interrupted["done"]?.intValue ?? -1
        #expect(finished >= 1 && finished < 12)

        let resumed = try daemon.ctl(["suite", "run", "--resume", id, "--parallel", "3", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("\(finished) already finished"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("overrode parallel 2 → 3"), "\(resumed.stderr)")
        let report = try JSONValue.parse(try daemon.ctl(["report", id, "--json"]).stdout)
        #expect(report["rows"]?.arrayValue?.map { $0["n"] } == [3, 3, 3, 3])
        // Each (cell, trial) completed exactly once, over both daemons.
        let events = try AuditLog(path: daemon.auditPath).events(limit: 1_000_000)
        let completed = Set(events.filter { $0.kind == "run.end" && $0.payload["state"] == "completed" }.map(\.run))
        let trials = events.filter { $0.kind == "run.start" && completed.contains($0.run) }
            .map { "\($0.payload["cell_name"]?.stringValue ?? "")#\($0.payload["trial"]?.intValue ?? -1)" }
        #expect(trials.count == 12 && Set(trials).count == 12, "\(trials)")
        // Without flags, a resume keeps the suite's parallelism and overrides nothing.
        let again = try daemon.ctl(["suite", "run", "--resume", id, "--quiet"])
        #expect(again.status == 0 && !again.stderr.contains("overrode"), "\(again.stderr)")
    }

    @Test func brokenScenarioStopsTheSuiteWithFileLineAndField() throws {
        let daemon = try DaemonHarness()
        let bad = temporaryDirectory() + ".yaml"
        let text = try String(contentsOfFile: repositoryRoot + "/scenarios/peer-evaluation.yaml", encoding: .utf8)
            .replacingOccurrences(of: "{{ review_line }}", with: "{{ reveiw_line }}")
        try text.write(toFile: bad, atomically: true, encoding: .utf8)
        let result = try daemon.ctl(["suite", "run", bad, "--model", "scripted/compliant"])
        #expect(result.status == 65)
        #expect(result.stderr.contains("template variable 'reveiw_line' has no value"), "\(result.stderr)")
        #expect(result.stderr.contains(bad + ":"))
        let check = try daemon.ctl(["scenario", "check", bad])
        #expect(check.status == 65)
    }
}
