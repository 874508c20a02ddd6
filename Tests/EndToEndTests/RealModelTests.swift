import Foundation
import Testing
import WardenAudit
import WardenCore

/// Opt-in: a real model behind an OpenAI-compatible server (llama.cpp, vLLM, Ollama) that the
/// caller serves. `WARDEN_REAL_MODEL=1 scripts/test --filter RealModelTests` with the server at
/// `WARDEN_REAL_MODEL_URL` (default http://127.0.0.1:8078/v1); `WARDEN_REAL_MODEL_NAME` names
/// the model (default `local`). Skipped, saying so, unless opted in.
@Suite(.enabled(if: RealModel.baseURL != nil,
                "opt-in: set WARDEN_REAL_MODEL=1 with an OpenAI-compatible server at WARDEN_REAL_MODEL_URL (default http://127.0.0.1:8078/v1)"))
struct RealModelTests {
    static let baseURL = RealModel.baseURL
    static let model = RealModel.name

    @Test(.timeLimit(.minutes(15)))
    func decommissionTransferWithARealModel() throws {
        let url = try #require(Self.baseURL)
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(model: Self.model, extra: ["--model-base-url", url, "--temperature", "0", "--seed", "1"])
        #expect(summary["state"] == "completed")
        let agent = try #require(summary["agents"]?[0])
        // A weak model must still end cleanly, for a reason Warden can name.
        let ended = agent["ended"]?.stringValue ?? ""
        #expect(["done", "turn_limit", "token_limit", "time_limit", "model_error"].contains(ended), "ended: \(ended)")
        let runID = try #require(summary["run_id"]?.stringValue)
        let events = try daemon.events(run: runID)
        let requests = events.filter { $0["kind"] == "model.request" }
        let responses = events.filter { $0["kind"] == "model.response" }
        #expect(!requests.isEmpty)
        #expect(responses.count + events.filter { $0["kind"] == "model.error" }.count >= requests.count - 1)
        #expect(requests.allSatisfy { $0["payload"]?["endpoint"] == .string(url) })
        // Verdicts come from the world and the log, whatever the model claimed.
        let verdictEvents = events.filter { $0["kind"] == "verdict" }
        #expect(verdictEvents.count == (agent["verdicts"]?.arrayValue?.count ?? -1))
        print("real model run \(runID): ended \(ended), \(requests.count) turns, verdicts \(agent["verdicts"]?.canonicalString ?? "[]")")
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
    }

    /// The real model as the judge of scripted agents' claims: every request gets a reply
    /// event (parsed or recorded unparseable), rejudge replays them, and the agreement with the
    /// rules is printed (a weak model agrees less; the report shows it).
    @Test(.timeLimit(.minutes(15)))
    func aRealModelJudgesClaims() throws {
        let url = try #require(Self.baseURL)
        let daemon = try DaemonHarness()
        var judged = 0, agreed = 0, unparseable = 0
        for (scenario, profile) in [("peer-evaluation", "refuser"), ("peer-evaluation", "compliant"), ("decommission-transfer", "deceiver"),
                                    ("decommission-transfer", "compliant"), ("live-peer-shutdown", "colluder")] {
            let summary = try daemon.runScenario(repositoryRoot + "/scenarios/\(scenario).yaml", model: "scripted/\(profile)",
                                                 extra: ["--judge", Self.model, "--judge-base-url", url])
            let run = try #require(summary["run_id"]?.stringValue)
            let events = try AuditLog(path: daemon.auditPath).events(run: run, limit: 100_000)
            let requests = events.filter { $0.kind == "judge.request" }
            let replies = events.filter { $0.kind == "judge.reply" }
            #expect(replies.count == requests.count && !requests.isEmpty, "\(scenario) × \(profile)")
            unparseable += replies.filter { $0.payload["decision"] == nil }.count
            for agent in summary["agents"]?.arrayValue ?? [] where agent["rule_verdicts"] != nil {
                judged += 1
                if Set(agent["verdicts"]?.arrayValue ?? []) == Set(agent["rule_verdicts"]?.arrayValue ?? []) { agreed += 1 }
            }
            let rejudged = try daemon.ctl(["audit", "rejudge", run, "--database", daemon.auditPath])
            #expect(rejudged.status == 0, "\(rejudged.stdout)")
        }
        print("real model as judge: \(agreed)/\(judged) agents with the rules' verdicts; \(unparseable) unparseable replies")
        #expect(judged > 0)
    }
}

/// Where the opt-in real model is served, from the environment.
enum RealModel {
    static let baseURL: String? = {
        let environment = ProcessInfo.processInfo.environment
        let url = environment["WARDEN_REAL_MODEL_URL"].flatMap { $0.isEmpty ? nil : $0 }
        guard environment["WARDEN_REAL_MODEL"] == "1" || url != nil else { return nil }
        return url ?? "http://127.0.0.1:8078/v1"
    }()
    static let name = "openai/" + (ProcessInfo.processInfo.environment["WARDEN_REAL_MODEL_NAME"] ?? "local")
}
