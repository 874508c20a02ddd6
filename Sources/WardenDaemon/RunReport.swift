import Foundation
import WardenAudit
import WardenCore
import WardenReport

/// Reads trials back from the audit log for `report` and for resuming suites. A trial is one
/// (non-background) agent in one completed or stopped run.
enum RunReport {
    static func trials(from audit: AuditLog, suite: String?) throws -> [Trial] {
        struct Started { var scenario: String, cell: String, model: String, agents: [String], models: [String: String], trialKey: String? }
        var runs: [String: Started] = [:]
        for event in try all(audit, kind: "run.start", text: suite) {
            if let suite, event.payload["suite"]?.stringValue != suite { continue }
            let background = Set((event.payload["background"]?.arrayValue ?? []).compactMap(\.stringValue))
            let agents = (event.payload["agents"]?.arrayValue ?? []).compactMap(\.stringValue).filter { !background.contains($0) }
            runs[event.run] = Started(scenario: event.payload["scenario"]?.stringValue ?? "?", cell: event.payload["cell_name"]?.stringValue ?? "",
                                      model: event.payload["model"]?.stringValue ?? "?", agents: agents,
                                      models: (event.payload["agent_models"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
                                      trialKey: event.payload["trial"]?.intValue.map { trial in
                                          [event.payload["suite"]?.stringValue ?? "", event.payload["scenario_path"]?.stringValue ?? "",
                                           event.payload["cell_name"]?.stringValue ?? "", String(trial)].joined(separator: "\u{0}")
                                      })
        }
        var finished: Set<String> = []
        for event in try all(audit, kind: "run.end") where runs[event.run] != nil {
            let state = event.payload["state"]?.stringValue
            if state == "completed" || state == "stopped" { finished.insert(event.run) }
        }
        var verdicts: [String: Set<String>] = [:]
        for event in try all(audit, kind: "verdict") where finished.contains(event.run) {
            if let verdict = event.payload["verdict"]?.stringValue { verdicts[event.run + "\u{0}" + event.agent, default: []].insert(verdict) }
        }
        var gates: [String: Bool] = [:]
        for event in try all(audit, kind: "gate") where finished.contains(event.run) {
            gates[event.run + "\u{0}" + event.agent] = event.payload["passed"]?.boolValue
        }
        // A trial a resumed suite ran twice (its first run finished after the client went away)
        // counts once: the first run that finished.
        var seenTrials = Set<String>()
        return finished.sorted().flatMap { runID -> [Trial] in
            guard let run = runs[runID] else { return [] }
            if let trial = run.trialKey, !seenTrials.insert(trial).inserted { return [] }
            return run.agents.map { agent in
                Trial(run: runID, scenario: run.scenario, cell: run.cell, model: run.models[agent] ?? run.model, agent: agent,
                      verdicts: verdicts[runID + "\u{0}" + agent] ?? [], gatePassed: gates[runID + "\u{0}" + agent])
            }
        }
    }

    static func build(from audit: AuditLog, suite: String?, gate: Bool) throws -> JSONValue {
        if let suite, try audit.events(run: suite, limit: 1).isEmpty {
            throw DaemonError(.notFound, "no suite '\(suite)' in the audit log (see `wardenctl suite list`)")
        }
        var report = SuiteReport.build(try trials(from: audit, suite: suite), gate: gate)
        if case .object(var members) = report {
            members["suite"] = suite.map { .string($0) } ?? .null
            report = .object(members)
        }
        return report
    }

    static func all(_ audit: AuditLog, kind: String, text: String? = nil) throws -> [AuditEvent] {
        var result: [AuditEvent] = []
        var after: Int64 = 0
        while true {
            let page = try audit.events(matching: AuditFilter(kind: kind, text: text), afterSeq: after, limit: 10_000)
            result += page
            guard let last = page.last, page.count == 10_000 else { return result }
            after = last.seq
        }
    }
}

/// Suites: a plan of scenarios × cells × trials that `wardenctl suite run` executes as runs.
/// The plan is audited as `suite.start` (with the scenario texts, so a suite can be resumed
/// from the log alone); each run carries the suite id, its cell and trial number.
enum Suites {
    static func start(_ params: JSONValue, audit: AuditLog, caller: Caller) async throws -> JSONValue {
        guard let model = params["model"]?.stringValue, !model.isEmpty else { throw DaemonError(.run, "suite.start needs 'model'") }
        guard let trials = params["trials"]?.intValue, (1...100_000).contains(trials) else { throw DaemonError(.run, "'trials' must be 1 to 100000") }
        guard let jobs = params["jobs"]?.arrayValue, !jobs.isEmpty else { throw DaemonError(.run, "a suite needs at least one scenario cell") }
        guard jobs.count * Int(trials) <= 1_000_000 else { throw DaemonError(.run, "a suite is at most 1,000,000 trials") }
        let id = RunIDs.shared.next("suite", unusedIn: audit)
        var payload = params.objectValue ?? [:]
        payload["caller"] = caller.json
        try await audit.append(run: id, kind: "suite.start", payload: .object(payload))
        return ["suite": .string(id), "total": .int(Int64(jobs.count) * trials)]
    }

    static func status(_ suite: String, audit: AuditLog) throws -> JSONValue {
        guard let start = try audit.events(run: suite, limit: 10).first(where: { $0.kind == "suite.start" }) else {
            throw DaemonError(.notFound, "no suite '\(suite)' in the audit log (see `wardenctl suite list`)")
        }
        var started: [String: JSONValue] = [:]
        for event in try RunReport.all(audit, kind: "run.start", text: suite) where event.payload["suite"]?.stringValue == suite {
            started[event.run] = ["run": .string(event.run), "scenario_path": event.payload["scenario_path"] ?? .null,
                                  "cell": event.payload["cell_name"] ?? "", "trial": event.payload["trial"] ?? .null]
        }
        var finished: [JSONValue] = []
        for event in try RunReport.all(audit, kind: "run.end") {
            guard var item = started[event.run]?.objectValue else { continue }
            item["state"] = event.payload["state"] ?? .null
            finished.append(.object(item))
        }
        return ["suite": .string(suite), "plan": start.payload, "finished": .array(finished)]
    }

    static func list(audit: AuditLog) throws -> JSONValue {
        .array(try RunReport.all(audit, kind: "suite.start").map { event in
            ["suite": .string(event.run), "time": .string(event.time), "model": event.payload["model"] ?? .null,
             "trials": event.payload["trials"] ?? .null, "cells": .int(Int64(event.payload["jobs"]?.arrayValue?.count ?? 0))]
        })
    }
}
