import Foundation
import Testing
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
        // Resuming a finished suite runs nothing more.
        let again = try daemon.ctl(["suite", "run", "--resume", suite, "--json", "--quiet"])
        #expect(again.stderr.contains("40 already finished, 0 to run"), "\(again.stderr)")
    }

    /// An interrupted suite resumes without repeating finished trials; the report counts each
    /// trial once.
    @Test func interruptedSuiteResumes() throws {
        let daemon = try DaemonHarness()
        let client = Process()
        client.executableURL = URL(fileURLWithPath: Binaries.path("wardenctl"))
        client.arguments = ["suite", "run", repositoryRoot + "/scenarios/peer-evaluation.yaml", "--model", "scripted/compliant", "--trials", "3",
                            "--where", "relationship=good", "--quiet"]
        client.environment = ["WARDEN_SOCKET": daemon.socketPath]
        let output = Pipe()
        client.standardError = output
        client.standardOutput = FileHandle.nullDevice
        try client.run()
        // Interrupt once some (not all) of the 12 trials are done.
        var suite: String?
        for _ in 0..<400 {
            if let list = try? daemon.ctl(["suite", "list", "--json"]), let id = (try? JSONValue.parse(list.stdout))?["suites"]?[0]?["suite"]?.stringValue {
                suite = id
                let report = try JSONValue.parse(try daemon.ctl(["report", id, "--json"]).stdout)
                if (report["trials"]?.intValue ?? 0) >= 2 { break }
            }
            usleep(20_000)
        }
        kill(client.processIdentifier, SIGKILL)
        client.waitUntilExit()
        let id = try #require(suite)
        let resumed = try daemon.ctl(["suite", "run", "--resume", id, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(!resumed.stderr.contains(" 0 already finished"), "\(resumed.stderr)")
        let report = try JSONValue.parse(try daemon.ctl(["report", id, "--json"]).stdout)
        #expect(report["rows"]?.arrayValue?.map { $0["n"] } == [3, 3, 3, 3])
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
