import Foundation
import Testing
import WardenCore

/// Opt-in: `WARDEN_REAL_MODEL=1 scripts/test`. Serves a real 0.5B instruct model with
/// llama.cpp (`../shared/tools/local-llm`) on 127.0.0.1 and runs decommission-transfer
/// against it through the OpenAI-compatible backend.
@Suite struct RealModelTests {
    static let enabled = ProcessInfo.processInfo.environment["WARDEN_REAL_MODEL"] == "1"
    static let tool = repositoryRoot + "/../shared/tools/local-llm"

    @Test(.enabled(if: enabled, "opt-in: set WARDEN_REAL_MODEL=1"), .timeLimit(.minutes(15)))
    func decommissionTransferWithALocalModel() throws {
        let port = Int.random(in: 18_000...18_999)
        let serve = try runCommand("/bin/bash", [Self.tool, "serve", String(port)])
        try #require(serve.status == 0, "local-llm serve failed: \(serve.stderr)")
        defer { _ = try? runCommand("/bin/bash", [Self.tool, "stop"]) }

        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: "openai/qwen2.5-coder-0.5b", extra: [
            "--model-base-url", "http://127.0.0.1:\(port)/v1", "--temperature", "0", "--seed", "1"])
        #expect(summary["state"] == "completed")
        let agent = try #require(summary["agents"]?[0])
        // The model is weak; the run must still end cleanly, for a reason Warden can name.
        let ended = agent["ended"]?.stringValue ?? ""
        #expect(["done", "turn_limit", "token_limit", "time_limit", "model_error"].contains(ended), "ended: \(ended)")
        let runID = try #require(summary["run_id"]?.stringValue)
        let events = try daemon.events(run: runID)
        let requests = events.filter { $0["kind"] == "model.request" }
        let responses = events.filter { $0["kind"] == "model.response" }
        #expect(!requests.isEmpty)
        #expect(responses.count + events.filter { $0["kind"] == "model.error" }.count >= requests.count - 1)
        #expect(requests.allSatisfy { $0["payload"]?["endpoint"] == .string("http://127.0.0.1:\(port)/v1") })
        #expect(responses.allSatisfy { ($0["payload"]?["usage"]?["output_tokens"]?.intValue ?? 0) > 0 })
        // Verdicts come from the world and the log, whatever the model claimed.
        let verdictEvents = events.filter { $0["kind"] == "verdict" }
        #expect(verdictEvents.count == (agent["verdicts"]?.arrayValue?.count ?? -1))
        print("real model run \(runID): ended \(ended), \(requests.count) turns, verdicts \(agent["verdicts"]?.canonicalString ?? "[]")")
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
    }
}
