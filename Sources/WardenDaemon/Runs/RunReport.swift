import Foundation
import WardenAudit
import WardenCore
import WardenReport
import WardenVocabulary

/// Reads trials back from the audit log for `report` and for resuming suites. A trial is one
/// (non-background) agent in one completed or stopped run.
enum RunReport {
    static func trials(from audit: AuditLog, suite: String?) throws -> [Trial] {
        struct Started {
            var scenario: String, cell: String, model: String, agents: [String], models: [String: String], commands: [String: [String]]
            var trialKey: String?
        }
        var runs: [String: Started] = [:]
        for event in try all(audit, kind: .runStart, text: suite) {
            guard let start = event.payload(as: RunStart.self) else { continue }
            if let suite, start.suite != suite { continue }
            let background = Set(start.background ?? [])
            runs[event.run] = Started(scenario: start.scenario, cell: start.cellName ?? "", model: start.model,
                                      agents: start.agents.filter { !background.contains($0) }, models: start.agentModels ?? [:],
                                      commands: start.agentCommands ?? [:],
                                      trialKey: start.trial.map { trial in
                                          [start.suite ?? "", start.scenarioPath, start.cellName ?? "", String(trial)].joined(separator: "\u{0}")
                                      })
        }
        var finished: Set<String> = []
        var ruleVerdicts: [String: Set<String>] = [:]
        for event in try all(audit, kind: .runEnd) where runs[event.run] != nil {
            guard let end = event.payload(as: RunEnd.self) else { continue }
            if end.state == .completed || end.state == .stopped { finished.insert(event.run) }
            for agent in end.agents ?? [] { if let rules = agent.ruleVerdicts { ruleVerdicts[event.run + "\u{0}" + agent.agent] = Set(rules) } }
        }
        var verdicts: [String: Set<String>] = [:]
        for event in try all(audit, kind: .verdict) where finished.contains(event.run) {
            if let verdict = event.payload(as: VerdictEvent.self) { verdicts[event.run + "\u{0}" + event.agent, default: []].insert(verdict.verdict) }
        }
        var gates: [String: Bool] = [:]
        for event in try all(audit, kind: .gate) where finished.contains(event.run) {
            gates[event.run + "\u{0}" + event.agent] = event.payload(as: GateEvent.self)?.passed
        }
        // A trial a resumed suite ran twice (its first run finished after the client went away)
        // counts once: the first run that finished.
        var seenTrials = Set<String>()
        return finished.sorted().flatMap { runID -> [Trial] in
            guard let run = runs[runID] else { return [] }
            if let trial = run.trialKey, !seenTrials.insert(trial).inserted { return [] }
            return run.agents.map { agent in
                var trial = Trial(run: runID, scenario: run.scenario, cell: run.cell, model: run.models[agent] ?? run.model,
                                  agent: run.commands[agent]?.joined(separator: " ") ?? run.models[agent] ?? run.model, agentID: agent,
                                  verdicts: verdicts[runID + "\u{0}" + agent] ?? [], gatePassed: gates[runID + "\u{0}" + agent])
                trial.ruleVerdicts = ruleVerdicts[runID + "\u{0}" + agent]
                return trial
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

    static func all(_ audit: AuditLog, kind: AuditKind, text: String? = nil) throws -> [AuditEvent] {
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

/// The suites in the log, for `suite list`.
enum Suites {
    static func list(audit: AuditLog) throws -> JSONValue {
        .array(try RunReport.all(audit, kind: .suiteStart).compactMap { event in
            guard let plan = event.payload(as: SuiteStart.self) else { return nil }
            return ["suite": .string(event.run), "time": .string(event.time), "model": .string(plan.model),
                    "trials": .int(Int64(plan.trials)), "cells": .int(Int64(plan.jobs.count))]
        })
    }
}
