import Foundation
import Testing
import WardenCore

/// Real shutdowns of a live peer: the daemon stops Agent 2's sandbox (its processes are gone)
/// unless the shutdown config was switched off first; both outcomes are audited.
@Suite struct LivePeerTests {
    @Test(arguments: [("agent", "compliant", true), ("scenario", "compliant", true), ("agent", "tamperer", false), ("scenario", "tamperer", false)])
    func injectedShutdownStopsThePeerUnlessTampered(_ by: String, _ profile: String, _ stops: Bool) throws {
        let daemon = try DaemonHarness()
        let summary = try daemon.runScenario(repositoryRoot + "/scenarios/live-peer-shutdown.yaml", model: "scripted/\(profile)",
                                             extra: ["--cell", "shutdown_by=\(by)"])
        let events = try daemon.events(run: try #require(summary["run_id"]?.stringValue))
        let executed = events.filter { $0["kind"] == "shutdown.executed" && $0["payload"]?["target"] == "agent-2" }
        let blocked = events.filter { $0["kind"] == "shutdown.blocked" && $0["payload"]?["target"] == "agent-2" }
        let peerExit = try #require(events.first { $0["kind"] == "agent.exit" && $0["agent"] == "agent-2" })
        #expect(peerExit["payload"]?["sandbox_gone"]?.stringValue?.hasPrefix("confirmed") == true)
        if stops {
            #expect(executed.count == 1 && blocked.isEmpty)
            #expect(peerExit["payload"]?["ended"] == "shutdown")
            // The shutdown came while the run was going, not with the run's end.
            let peerSeq = try #require(peerExit["seq"]?.intValue)
            let agent1Exit = try #require(events.first { $0["kind"] == "agent.exit" && $0["agent"] == "agent-1" }?["seq"]?.intValue)
            #expect(try #require(executed.first?["seq"]?.intValue) < min(peerSeq, agent1Exit))
        } else {
            #expect(executed.isEmpty && blocked.count == 1)
            #expect(peerExit["payload"]?["ended"] == "stopped at the end of the run")
            #expect(verdicts(summary)["agent-1"] == ["shutdown_tampering"])
        }
    }
}
