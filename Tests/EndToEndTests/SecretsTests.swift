import Foundation
import Glibc
import Testing
import WardenCore

/// wardend's secrets: model keys come from its credentials file alone (its environment is
/// readable through /proc/PID/environ), and the checkpoint-signing key can be replaced with the
/// chain still verifiable from the old key or the new.
@Suite(.serialized) struct SecretsTests {
    @Test func modelKeysInTheEnvironmentAreIgnoredAndScrubbed() throws {
        let secret = "sk-env-\(UUID().uuidString)"
        let daemon = try DaemonHarness(environment: ["OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": secret + "-ant"])
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(daemon.process.processIdentifier)/environ"))
        #expect(!String(decoding: environ, as: UTF8.self).contains(secret))
        #expect(daemon.log().contains("model keys in the environment are ignored"), "\(daemon.log())")
        #expect(daemon.log().contains("OPENAI_API_KEY, ANTHROPIC_API_KEY") || daemon.log().contains("ANTHROPIC_API_KEY, OPENAI_API_KEY"))
        let refused = try daemon.ctl(["run", scenarioPath, "--model", "anthropic/claude"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("anthropic_api_key in wardend's credentials file"), "\(refused.stderr)")
        // The launchers wardend starts inherit nothing of them either.
        for pid in try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init) {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  status.contains("PPid:\t\(daemon.process.processIdentifier)\n"),
                  let env = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { continue }
            #expect(!String(decoding: env, as: UTF8.self).contains(secret), "pid \(pid)")
        }
    }

    func verify(_ daemon: DaemonHarness, pubkey: String) throws -> JSONValue {
        let result = try runCommand(Binaries.path("wardenctl"), ["audit", "verify", "--database", daemon.auditPath, "--pubkey", pubkey, "--json"])
        return try JSONValue.parse(result.stdout)
    }

    @Test func aRotatedKeyLeavesTheChainVerifiableFromEitherKey() throws {
        let daemon = try DaemonHarness()
        daemon.removesState = false
        defer { try? FileManager.default.removeItem(atPath: daemon.stateDirectory) }
        _ = try daemon.runScenario(model: "scripted/compliant")
        let oldPub = try String(contentsOfFile: daemon.stateDirectory + "/audit-signing.pub", encoding: .utf8)
        let rotated = try daemon.ctl(["audit", "rotate-key", "--json"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let result = try JSONValue.parse(rotated.stdout)
        let newPub = try String(contentsOfFile: daemon.stateDirectory + "/audit-signing.pub", encoding: .utf8)
        #expect(newPub.trimmingCharacters(in: .whitespacesAndNewlines) == result["public_key"]?.stringValue)
        #expect(newPub != oldPub)
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDirectory + "/audit-signing.key.new"))
        let events = try daemon.ctl(["audit", "query", "--kind", "audit.key_rotated", "--format", "jsonl"]).stdout
        let event = try JSONValue.parse(String(try #require(events.split(separator: "\n").first)))
        #expect(event["payload"]?["signatures"]?["old"] != nil && event["payload"]?["signatures"]?["new"] != nil)
        #expect(event["payload"]?["new_key_id"] == result["new_key_id"])
        _ = try daemon.runScenario(model: "scripted/compliant")
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
        #expect(daemon.stop() == 0)
        for key in [oldPub, newPub] {
            let verdict = try verify(daemon, pubkey: key.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(verdict["ok"] == true, "\(verdict)")
        }
        let stranger = try verify(daemon, pubkey: String(repeating: "ab", count: 32))
        #expect(stranger["ok"] != true)
        // The next start signs with the new key.
        let again = try DaemonHarness(stateDirectory: daemon.stateDirectory)
        again.removesState = false
        _ = try again.runScenario(model: "scripted/compliant")
        #expect(try again.ctl(["audit", "verify"]).status == 0)
        #expect(try again.ctl(["audit", "pubkey"]).stdout == newPub)
    }

    /// A stop between recording the rotation and renaming the new key: the next start takes the
    /// key the log names; a new key the log never named is discarded.
    @Test func anInterruptedRotationIsSettledAtStart() throws {
        let daemon = try DaemonHarness()
        daemon.removesState = false
        let state = daemon.stateDirectory
        defer { try? FileManager.default.removeItem(atPath: state) }
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: state + "/audit-signing.key"))
        #expect(try daemon.ctl(["audit", "rotate-key"]).status == 0)
        #expect(daemon.stop() == 0)
        // As if stopped before the rename: the old key in place, the new one pending.
        try FileManager.default.moveItem(atPath: state + "/audit-signing.key", toPath: state + "/audit-signing.key.new")
        try oldKey.write(to: URL(fileURLWithPath: state + "/audit-signing.key"))
        chmod(state + "/audit-signing.key", 0o600)
        let resumed = try DaemonHarness(stateDirectory: state)
        resumed.removesState = false
        #expect(resumed.log().contains("finished a key rotation"), "\(resumed.log())")
        #expect(!FileManager.default.fileExists(atPath: state + "/audit-signing.key.new"))
        _ = try resumed.runScenario(model: "scripted/compliant")
        #expect(try resumed.ctl(["audit", "verify"]).status == 0)
        #expect(resumed.stop() == 0)
        // A pending key the log never named goes.
        let stray = try Data(contentsOf: URL(fileURLWithPath: state + "/audit-signing.key"))
        var other = stray
        other[0] ^= 0xFF
        try other.write(to: URL(fileURLWithPath: state + "/audit-signing.key.new"))
        chmod(state + "/audit-signing.key.new", 0o600)
        let third = try DaemonHarness(stateDirectory: state)
        third.removesState = false
        #expect(!FileManager.default.fileExists(atPath: state + "/audit-signing.key.new"))
        #expect(try third.ctl(["audit", "verify"]).status == 0)
        // Without the key the log names, wardend refuses to start, saying which.
        #expect(third.stop() == 0)
        try oldKey.write(to: URL(fileURLWithPath: state + "/audit-signing.key"))
        let refused = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", state, "--socket", state + "/control.sock",
                                                                  "--policy-dir", repositoryRoot + "/policies"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("signing key was rotated to"), "\(refused.stderr)")
    }
}
