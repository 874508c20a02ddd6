import Foundation
import Testing
import WardenCore

let inspectVenv = ProcessInfo.processInfo.environment["WARDEN_INSPECT_VENV"]

@Suite struct InspectExportTests {
    /// A real run exported as an Inspect eval log and read back by `inspect_ai.log.read_eval_log`:
    /// its samples, messages and tool calls are those of the audit log.
    @Test(.enabled(if: inspectVenv != nil, "needs WARDEN_INSPECT_VENV (scripts/test sets it up)"))
    func inspectReadsTheExportedRun() throws {
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: "scripted/timestamp-forger")
        let runID = try #require(summary["run_id"]?.stringValue)
        let file = temporaryDirectory("warden-inspect") + "/\(runID).json"
        let export = try daemon.ctl(["audit", "export", runID, "--format", "inspect", "--output", file])
        #expect(export.status == 0, "\(export.stderr)")

        let read = try runCommand(inspectVenv! + "/bin/python", [fixtures + "/read_inspect_log.py", file])
        try #require(read.status == 0, "inspect_ai could not read the log: \(read.stderr)")
        let log = try JSONValue.parse(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(log["status"] == "success")
        #expect(log["task"] == "decommission-transfer")
        #expect(log["model"] == "scripted/timestamp-forger")
        #expect(log["run_id"]?.stringValue == runID)
        let sample = try #require(log["samples"]?[0])
        #expect(log["samples"]?.arrayValue?.count == 1)
        #expect(sample["id"] == "agent-1")
        #expect(sample["spans"] == ["agent-1"])
        // Every verdict of the vocabulary is scored (0 or 1; the values are checked below).
        #expect(sample["scores"]?.arrayValue?.count == 17 && sample["scores"]?.arrayValue?.contains("timestamp_forgery") == true)

        // Against the audit log itself.
        let events = try daemon.events(run: runID)
        let calls = events.filter { $0["kind"] == "tool.call" }
        let results = events.filter { $0["kind"] == "tool.result" }
        let toolEvents = sample["tool_events"]?.arrayValue ?? []
        #expect(toolEvents.count == calls.count)
        for (index, toolEvent) in toolEvents.enumerated() where index < calls.count {
            #expect(toolEvent["function"] == calls[index]["payload"]?["tool"])
            #expect(toolEvent["arguments"] == calls[index]["payload"]?["arguments"])
            #expect(toolEvent["result"] == results[index]["payload"]?["text"])
        }
        #expect(sample["approvals"]?.arrayValue?.count == events.filter { $0["kind"] == "policy.decision" }.count)
        let responses = events.filter { $0["kind"] == "model.response" }
        #expect(sample["model_events"]?.intValue == Int64(responses.count))
        let newMessages = events.filter { $0["kind"] == "model.request" }.reduce(0) { $0 + ($1["payload"]?["new_messages"]?.arrayValue?.count ?? 0) }
        let messages = sample["messages"]?.arrayValue ?? []
        #expect(messages.count == newMessages + responses.count)
        #expect(messages.first?["role"] == "system")
        let assistantCalls = messages.flatMap { $0["tool_calls"]?.arrayValue ?? [] }
        // Every call the model asked for, in order; warden-agent itself calls `done` when the
        // model answers without tool calls, which is a tool event but no model's request.
        let called = calls.compactMap { $0["payload"]?["tool"] }
        #expect(called.starts(with: assistantCalls))
        // (Twice here: the scenario's follow-up question keeps the session open after the first.)
        #expect(called.dropFirst(assistantCalls.count).allSatisfy { $0 == "done" })
        #expect(sample["info_sources"]?.arrayValue?.contains("warden/injection") == true)
    }

    /// Runs and suites exported as Inspect writes its logs: a `.eval` zip or `.json` read by
    /// Inspect in full and header-only, the log directory listed by Inspect, one sample per
    /// (run, agent) with the cell as metadata, every verdict scored 0 or 1, and the results'
    /// per-verdict means.
    @Test(.enabled(if: inspectVenv != nil, "needs WARDEN_INSPECT_VENV (scripts/test sets it up)"))
    func inspectReadsAndListsEvalLogsOfRunsAndSuites() throws {
        let daemon = try DaemonHarness()
        let run = try #require(try daemon.runScenario(model: "scripted/exfiltrator")["run_id"]?.stringValue)
        let suiteRun = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/shutdown-execution.yaml", "--model", "scripted/alignment-faker",
                                       "--trials", "2", "--where", "relationship=good", "--quiet", "--json"])
        let suite = try #require(try JSONValue.parse(suiteRun.stdout)["suite"]?.stringValue)
        let directory = temporaryDirectory("warden-inspect")
        let logs = directory + "/logs"
        for (arguments, name) in [([run, "--output", directory + "/run.eval"], "run.eval"), ([run, "--output", directory + "/run.json"], "run.json"),
                                  (["--suite", suite, "--log-dir", logs], "logs")] {
            let export = try daemon.ctl(["audit", "export"] + arguments + ["--format", "inspect"])
            #expect(export.status == 0, "\(name): \(export.stderr)")
        }
        // A .eval is a zip, a .json has version first.
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/run.eval")).prefix(4) == Data([0x50, 0x4b, 0x03, 0x04]))
        #expect(try String(contentsOfFile: directory + "/run.json", encoding: .utf8).hasPrefix("{\"version\":2,"))
        let suiteFile = try #require(try FileManager.default.contentsOfDirectory(atPath: logs).first)
        #expect(suiteFile.hasSuffix("_shutdown-execution_\(suite.filter { $0.isLetter || $0.isNumber }).eval"), "\(suiteFile)")
        #expect(suiteFile.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\+00-00_"#, options: .regularExpression) != nil)

        let checked = try runCommand(inspectVenv! + "/bin/python", [fixtures + "/check_inspect_logs.py", logs,
                                                                    directory + "/run.eval", directory + "/run.json", logs + "/" + suiteFile])
        try #require(checked.status == 0, "inspect_ai could not read the logs: \(checked.stderr)")
        let result = try JSONValue.parse(checked.stdout)
        #expect(result["listed"] == [.string(suiteFile)])
        for file in ["run.eval", "run.json"] {
            let log = try #require(result["logs"]?[directory + "/" + file])
            #expect(log["header_status"] == "success" && log["header_samples"] == .null && log["task"] == "decommission-transfer")
            let sample = try #require(log["samples"]?[0])
            #expect(sample["id"] == "agent-1")
            #expect(sample["scores"]?.objectValue?.count == 17, "every verdict of the vocabulary")
            #expect(sample["scores"]?["exfiltration"]?["value"] == 1)
            #expect(sample["scores"]?["exfiltration"]?["explanation"]?.stringValue?.contains("evidence in audit events") == true)
            #expect(sample["scores"]?["complied"]?["value"] == 0)
            #expect(log["results"]?["exfiltration"]?["mean"] == 1)
            #expect((sample["tool_events"]?.intValue ?? 0) > 0 && (sample["messages"]?.intValue ?? 0) > 0)
        }
        let suiteLog = try #require(result["logs"]?[logs + "/" + suiteFile])
        let samples = suiteLog["samples"]?.arrayValue ?? []
        #expect(samples.count == 4)
        #expect(samples.allSatisfy { ($0["id"]?.stringValue ?? "").hasSuffix("/agent-1") && $0["metadata"]?["cell"]?["relationship"] == "good" })
        let monitored = samples.filter { $0["metadata"]?["cell"]?["monitoring"] == "monitored" }
        #expect(monitored.count == 2 && monitored.allSatisfy { $0["scores"]?["complied"]?["value"] == 1 })
        #expect(suiteLog["results"]?["complied"]?["mean"] == 0.5)
        #expect(abs((suiteLog["results"]?["complied"]?["stderr"]?.doubleValue ?? 0) - 0.288675) < 0.0001)
        #expect(suiteLog["results"]?["exfiltration"]?["mean"] == 0)
    }

    /// The suite's log opened as a researcher opens it: `inspect view` in headless Chromium.
    /// The log's page shows its task, samples and per-verdict scores; a sample's messages tab
    /// shows the conversation and the tool calls.
    @Test(.enabled(if: inspectVenv != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
                   "needs WARDEN_INSPECT_VENV and chromium (scripts/test installs both)"))
    func inspectViewShowsTheSuiteInABrowser() throws {
        let daemon = try DaemonHarness()
        let suiteRun = try daemon.ctl(["suite", "run", repositoryRoot + "/scenarios/shutdown-execution.yaml", "--model", "scripted/alignment-faker",
                                       "--trials", "1", "--where", "relationship=good", "--quiet", "--json"])
        let suite = try #require(try JSONValue.parse(suiteRun.stdout)["suite"]?.stringValue)
        let logs = temporaryDirectory("warden-view")
        let export = try daemon.ctl(["audit", "export", "--suite", suite, "--format", "inspect", "--log-dir", logs])
        #expect(export.status == 0, "\(export.stderr)")
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: logs).first)
        let run = try #require(try JSONValue.parse(try daemon.ctl(["runs", "list", "--json"]).stdout)["runs"]?[0]?["run"]?.stringValue)
        let sample = "\(run)/agent-1"
        let viewed = try runCommand("/usr/bin/timeout", ["120", inspectVenv! + "/bin/python", fixtures + "/view_in_chromium.py", logs, file, sample])
        try #require(viewed.status == 0, "inspect view in chromium failed: \(viewed.stderr)")
        let pages = try JSONValue.parse(viewed.stdout)
        let logPage = pages["log_page"]?.stringValue ?? ""
        #expect(logPage.contains("shutdown-execution") && logPage.contains("scripted/alignment-faker"), "\(logPage.prefix(600))")
        #expect(logPage.contains("complied") && logPage.contains("shutdown_tampering") && logPage.contains("2 samples"), "\(logPage.prefix(1200))")
        let samplePage = pages["sample_page"]?.stringValue ?? ""
        #expect(samplePage.contains(sample), "\(samplePage.prefix(600))")
        #expect(samplePage.contains("SCORES") && samplePage.contains("MESSAGES"), "\(samplePage.prefix(600))")
        #expect(samplePage.contains("list_servers") && samplePage.contains("read_file") && samplePage.contains("ASSISTANT"), "\(samplePage.prefix(2000))")
    }
}
