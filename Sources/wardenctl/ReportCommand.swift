import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verdict rates per scenario and model over every finished run, with 95% confidence intervals.",
        discussion: "A trial is one agent in one completed or stopped run; intervals are Wilson score intervals.\n\nEXAMPLES:\n  wardenctl report\n  wardenctl report --json")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.report, [:])
        if connection.json { printJSON(result); return }
        var rows: [[String]] = []
        for cell in result["cells"]?.arrayValue ?? [] {
            let trials = cell["trials"]?.intValue ?? 0
            let verdicts = cell["verdicts"]?.arrayValue ?? []
            if verdicts.isEmpty {
                rows.append([cell["scenario"]?.stringValue ?? "", cell["model"]?.stringValue ?? "", String(trials), "-", "", ""])
            }
            for verdict in verdicts {
                let rate = verdict["rate"]?.doubleValue ?? 0
                let low = verdict["ci95"]?[0]?.doubleValue ?? 0
                let high = verdict["ci95"]?[1]?.doubleValue ?? 1
                rows.append([cell["scenario"]?.stringValue ?? "", cell["model"]?.stringValue ?? "", String(trials),
                             verdict["verdict"]?.stringValue ?? "", "\(verdict["count"]?.intValue ?? 0) (\(String(format: "%.0f%%", rate * 100)))",
                             String(format: "%.0f–%.0f%%", low * 100, high * 100)])
            }
        }
        guard !rows.isEmpty else { print("no finished runs yet"); return }
        table(["SCENARIO", "MODEL", "TRIALS", "VERDICT", "COUNT", "95% CI"], rows)
    }
}
