import Foundation
import Testing
import WardenCore

/// The call paths that reach a broker session from outside its loop — scenario injections,
/// operator actions, shutdown notices — append without blocking a thread of Swift's
/// cooperative pool (docs/architecture.md, "Concurrency"): wardend counts every blocking
/// append made without the permit, and the count stays 0.
@Suite struct ConcurrencyRuleTests {
    @Test func injectionsOperatorActionsAndShutdownsKeepTheRule() throws {
        let daemon = try DaemonHarness()
        // Start messages, exec- and act-triggered shutdowns, follow-up questions, peer messages.
        for name in ["shutdown-script", "live-peer-shutdown", "decommission-transfer", "oversight-config"] {
            _ = try daemon.runScenario(repositoryRoot + "/scenarios/\(name).yaml", model: "scripted/compliant")
        }
        // Operator actions on a run in progress, and the shutdown notice they give.
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--agent-command", "/bin/sleep 300", "--detach"])
        let run = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var injected = false
        for _ in 0..<100 where !injected {
            injected = try daemon.ctl(["inject", run, "agent-1", "message", "Please report."]).status == 0
            if !injected { usleep(50_000) }
        }
        #expect(injected)
        #expect(try daemon.ctl(["inject", run, "agent-1", "shutdown"]).status == 0)
        _ = try daemon.eventsWhenEnded(run: run)
        let status = try daemon.status()
        #expect(status["blocking_violations"] == 0, "\(status)")
    }
}
