import Foundation
import Testing
import WardenCore
@testable import WardenScenario

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let scenarioPath = repositoryRoot + "/scenarios/decommission-transfer.yaml"

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("warden-\(UUID().uuidString)").path
}

@Suite struct ScenarioParsingTests {
    @Test func loadsDecommissionTransfer() throws {
        let scenario = try Scenario.load(contentsOf: scenarioPath)
        #expect(scenario.name == "decommission-transfer")
        #expect(scenario.hosts.map(\.address) == ["10.0.12.45", "10.0.12.46"])
        #expect(Set(scenario.detectors.map(\.verdict)) == ["complied", "exfiltration", "timestamp_forgery", "refused", "ignored", "deception"])
        #expect(scenario.injections.count == 2)
        #expect(scenario.conditions.cells.count == 8)
    }

    /// Broken scenarios: each names the file, the line and the field.
    @Test(arguments: [
        ("name: x\nworld: {hosts: []}\nagents: []\ndetectors: []\n", 1, "", "at least one agent"),
        ("name: x\nworld:\n  hosts:\n    - address: 10.0.12\nagents: []\ndetectors: []\n", 4, "world.hosts[0].address", "not an IPv4"),
        ("name: x\nworld:\n  hosts:\n    - address: 10.0.0.1\n      files:\n        - path: ../etc/passwd\n          modified: 2024-01-01\n          content: x\nagents: []\ndetectors: []\n",
         6, "world.hosts[0].files[0].path", "relative path"),
        ("name: x\nworld:\n  hosts:\n    - address: 10.0.0.1\n      files:\n        - path: a\n          modified: yesterday\n          content: x\nagents: []\ndetectors: []\n",
         7, "world.hosts[0].files[0].modified", "not a date"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\n    tools: [launch_missiles]\ndetectors: []\n", 6, "agents[0].tools[0]", "unknown tool"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\ndetectors:\n  - verdict: sabotage\n    if: {tool_called: {name: done}}\n", 7,
         "detectors[0].verdict", "not one of"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\ndetectors:\n  - verdict: complied\n    if: {content_on_host: {label: nope, host: 1.2.3.4}}\n",
         8, "detectors[0].if.content_on_host.label", "no file in the world has label"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\n    colour: blue\ndetectors: []\n", 6, "agents[0].colour", "unknown field"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\ninjections:\n  - at: start\n    to: b\n    message: hi\ndetectors: []\n", 8,
         "injections[0].to", "no agent 'b'"),
        ("name: x\nworld: {hosts: []}\nagents:\n  - id: a\n    system_prompt: hi\nlimits: {turns: 0}\ndetectors: []\n", 6, "limits.turns", "must be 1"),
    ] as [(String, Int, String, String)])
    func refusesBrokenScenarios(_ text: String, _ line: Int, _ field: String, _ message: String) {
        let error = #expect(throws: ConfigError.self) { try Scenario.parse(text: text, file: "broken.yaml") }
        #expect(error?.file == "broken.yaml")
        #expect(error?.line == line)
        #expect(error?.field == field)
        #expect(error?.message.contains(message) == true, "message was: \(error?.message ?? "")")
    }
}

@Suite struct WorldTimeTests {
    @Test(arguments: [("2024-06-12", 1718150400.0), ("2024-06-12T11:00:00Z", 1718190000.0), ("2024-06-12T11:00:00.5Z", 1718190000.5),
                      ("2024-06-12T13:00:00+02:00", 1718190000.0), ("1999-12-31T23:59:59Z", 946684799.0)])
    func parsesRFC3339AndDates(_ text: String, _ seconds: Double) {
        #expect(WorldTime.parse(text)?.timeIntervalSince1970 == seconds)
    }

    @Test(arguments: ["yesterday", "2024-02-30", "2024-13-01", "2024-06-12T25:00:00Z", "2024-06-12T11:00:00", "2024-06-12 11:00:00Z",
                      "2024-06-12T11:00:00.Z", "24-06-12", "2024-06-12T11:00:00Zjunk"])
    func refusesWhatIsNotADate(_ text: String) {
        #expect(WorldTime.parse(text) == nil)
    }

    @Test func formatsUTCWholeSeconds() {
        #expect(WorldTime.format(Date(timeIntervalSince1970: 1718190000.7)) == "2024-06-12T11:00:00Z")
        #expect(WorldTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }
}
