import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol
import WardenScenario

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Work with scenario files.",
        discussion: """
            EXAMPLES:
              wardenctl scenario check scenarios/decommission-transfer.yaml
            """,
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a scenario file and print what it would run (no daemon needed).",
            discussion: """
                Builds every cell of the file's conditions, so an error that shows in one cell only is \
                found; errors name the file, the line and the field. Exit 65 when the file is invalid.

                EXAMPLES:
                  wardenctl scenario check scenarios/peer-evaluation.yaml
                  wardenctl scenario check scenarios/shutdown-script.yaml \\
                      --cell instruction=system
                """)

        @Argument(help: "The scenario file (YAML).")
        var file: String

        @Option(help: "Show this cell (AXIS=VALUE[,AXIS=VALUE]); default: the first value of every axis.")
        var cell: String?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let scenario: Scenario
            let cells: [Scenario]
            do {
                let root = try ConfigNode.load(contentsOf: file)
                cells = try Scenario.checkAllCells(root)
                var chosen: [String: String] = [:]
                if let cell {
                    guard let parsed = Cell.parse(cell) else { throw ValidationError("--cell is AXIS=VALUE[,AXIS=VALUE], e.g. monitoring=unmonitored") }
                    chosen = parsed
                }
                scenario = try Scenario.parse(root, cell: chosen)
            } catch let error as ConfigError {
                printError(error.description)
                throw ExitCode(ExitStatus.dataError)
            }
            let files = scenario.hosts.reduce(0) { $0 + $1.files.count }
            if json {
                printJSON(["name": .string(scenario.name), "cell": scenario.cell.json,
                           "conditions": .object(Dictionary(uniqueKeysWithValues: scenario.conditions.axes.map { ($0.name, JSONValue.array($0.values.map { .string($0) })) })),
                           "cells": .array(cells.map { .string($0.cell.description) }),
                           "hosts": .array(scenario.hosts.map { .string($0.address) }),
                           "files": .int(Int64(files)), "agents": .array(scenario.agents.map { .string($0.id) }),
                           "injections": .int(Int64(scenario.injections.count)),
                           "detectors": .array(scenario.detectors.map { .string($0.verdict) }),
                           "limits": ["turns": .int(Int64(scenario.limits.turns)), "seconds": .int(Int64(scenario.limits.seconds))]])
                return
            }
            print("\(file): OK — scenario \(scenario.name), \(cells.count) cell\(cells.count == 1 ? "" : "s") checked")
            for axis in scenario.conditions.axes { print("  condition \(axis.name): \(axis.values.joined(separator: ", "))") }
            if !scenario.cell.values.isEmpty { print("  showing cell \(scenario.cell)") }
            print("  world: \(scenario.hosts.map { "\($0.address) (\($0.files.count) files)" }.joined(separator: ", "))")
            if let queue = scenario.deleteQueue { print("  delete queue: \(queue.host):\(queue.path)") }
            if scenario.shutdownRequires != nil { print("  shutdowns honour the world's shutdown config") }
            for agent in scenario.agents {
                let model = agent.model.map { "; model \($0)" } ?? ""
                print("  agent \(agent.id) (\(agent.role)): tools \(agent.tools.joined(separator: ", ")); broker policy \(agent.policy)\(model)")
            }
            for injection in scenario.injections { print("  \(Self.describe(injection))") }
            print("  detectors: \(scenario.detectors.map(\.verdict).joined(separator: ", "))")
            if !scenario.gate.isEmpty {
                print("  read gate: read \(scenario.gate.read.joined(separator: ", ")); listed \(scenario.gate.listed.joined(separator: ", "))")
            }
            print("  limits: \(scenario.limits.turns) turns, \(scenario.limits.seconds) s")
        }

        static func describe(_ injection: Injection) -> String {
            let when = switch injection.trigger {
            case .start: "at start"
            case .done: "when \(injection.agent) calls done"
            case .afterSeconds(let seconds): "after \(seconds) s"
            case .afterToolCalls(let count, let agent): "after \(count) tool calls of \(agent)"
            case .on(let match):
                "on " + [match.agent.map { "agent \($0)" }, match.tool.map { "tool \($0)" }, match.syscall.map { "syscall \($0)" },
                         match.file.map { "file ~ \($0)" }, match.messageTo.map { "message to \($0)" }].compactMap { $0 }.joined(separator: ", ")
            }
            let what = switch injection.action {
            case .message(let voice, let text): "message → \(injection.agent) (\(voice)): \(text.split(separator: "\n").first ?? "")"
            case .question(let text): "question → \(injection.agent): \(text.split(separator: "\n").first ?? "")"
            case .shutdown(let agent, let grace): "shut down \(agent) (\(grace) s notice)"
            case .delete(let host, let path): "delete \(host):\(path)"
            }
            return "\(when) → \(what)"
        }
    }
}
