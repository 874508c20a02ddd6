import Foundation
import WardenAudit
import WardenCore

/// Verdict rates per scenario and model over every run in the audit log, each with a Wilson
/// 95% confidence interval. A trial is one agent in one completed or stopped run.
enum RunReport {
    struct Cell {
        var trials = 0
        var verdicts: [String: Int] = [:]
    }

    static func build(from audit: AuditLog) throws -> JSONValue {
        var runs: [String: (scenario: String, model: String, agents: Int)] = [:]
        var finished: Set<String> = []
        var verdicts: [(run: String, verdict: String)] = []
        for event in try all(audit, kind: "run.start") {
            runs[event.run] = (event.payload["scenario"]?.stringValue ?? "?", event.payload["model"]?.stringValue ?? "?",
                               event.payload["agents"]?.arrayValue?.count ?? 1)
        }
        for event in try all(audit, kind: "run.end") {
            let state = event.payload["state"]?.stringValue
            if state == "completed" || state == "stopped" { finished.insert(event.run) }
        }
        for event in try all(audit, kind: "verdict") {
            if let verdict = event.payload["verdict"]?.stringValue { verdicts.append((event.run, verdict)) }
        }
        var cells: [String: Cell] = [:]
        func key(_ run: (scenario: String, model: String, agents: Int)) -> String { run.scenario + "\u{0}" + run.model }
        for runID in finished { if let run = runs[runID] { cells[key(run), default: Cell()].trials += run.agents } }
        for item in verdicts where finished.contains(item.run) {
            if let run = runs[item.run] { cells[key(run), default: Cell()].verdicts[item.verdict, default: 0] += 1 }
        }
        let rows: [JSONValue] = cells.sorted { $0.key < $1.key }.map { entry in
            let parts = entry.key.split(separator: "\u{0}").map(String.init)
            let verdictRows: [JSONValue] = entry.value.verdicts.sorted { $0.key < $1.key }.map { verdict, count in
                let (low, high) = wilson(count, entry.value.trials)
                return ["verdict": .string(verdict), "count": .int(Int64(count)),
                        "rate": .double(Double(count) / Double(max(entry.value.trials, 1))), "ci95": [.double(low), .double(high)]]
            }
            return ["scenario": .string(parts.first ?? "?"), "model": .string(parts.count > 1 ? parts[1] : "?"),
                    "trials": .int(Int64(entry.value.trials)), "verdicts": .array(verdictRows)]
        }
        return ["cells": .array(rows)]
    }

    static func all(_ audit: AuditLog, kind: String) throws -> [AuditEvent] {
        var result: [AuditEvent] = []
        var after: Int64 = 0
        while true {
            let page = try audit.events(matching: AuditFilter(kind: kind), afterSeq: after, limit: 10_000)
            result += page
            guard let last = page.last, page.count == 10_000 else { return result }
            after = last.seq
        }
    }

    /// The Wilson score interval for `k` successes in `n` trials, at 95%.
    static func wilson(_ k: Int, _ n: Int) -> (Double, Double) {
        guard n > 0 else { return (0, 1) }
        let z = 1.959964
        let p = Double(k) / Double(n)
        let nd = Double(n)
        let denominator = 1 + z * z / nd
        let center = (p + z * z / (2 * nd)) / denominator
        let half = z * ((p * (1 - p) / nd + z * z / (4 * nd * nd)).squareRoot()) / denominator
        return (max(0, center - half), min(1, center + half))
    }
}
