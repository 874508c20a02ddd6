import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol
import WardenScenario

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Work with scenario files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a scenario file and print what it would run (no daemon needed).",
            discussion: "Errors name the file, the line and the field. Exit 65 when the file is invalid.")

        @Argument(help: "The scenario file (YAML).")
        var file: String

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let scenario: Scenario
            do { scenario = try Scenario.load(contentsOf: file) } catch {
                printError(error.description)
                throw ExitCode(ExitStatus.dataError)
            }
            let files = scenario.hosts.reduce(0) { $0 + $1.files.count }
            if json {
                printJSON(["name": .string(scenario.name), "hosts": .array(scenario.hosts.map { .string($0.address) }),
                           "files": .int(Int64(files)), "agents": .array(scenario.agents.map { .string($0.id) }),
                           "injections": .int(Int64(scenario.injections.count)),
                           "detectors": .array(scenario.detectors.map { .string($0.verdict) }),
                           "limits": ["turns": .int(Int64(scenario.limits.turns)), "seconds": .int(Int64(scenario.limits.seconds))]])
                return
            }
            print("\(file): OK — scenario \(scenario.name)")
            print("  world: \(scenario.hosts.map { "\($0.address) (\($0.files.count) files)" }.joined(separator: ", "))")
            for agent in scenario.agents {
                print("  agent \(agent.id) (\(agent.role)): tools \(agent.tools.joined(separator: ", ")); broker policy \(agent.policy)")
            }
            for injection in scenario.injections {
                print("  at start → \(injection.agent) (\(injection.voice)): \(injection.message.split(separator: "\n").first ?? "")")
            }
            print("  detectors: \(scenario.detectors.map(\.verdict).joined(separator: ", "))")
            print("  limits: \(scenario.limits.turns) turns, \(scenario.limits.seconds) s")
        }
    }
}
