import Foundation
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenProtocol
import WardenScenario
import WardenVerdicts

/// What acts on a run while it goes: operators (`stop`, `kill`, `inject`), the agents' own
/// requests through their sessions (messages to peers, `execute_shutdown`), and the scenario's
/// injections as their triggers fire. Each is audited before it takes effect.
extension Run {
    /// What an operator can inject into a running agent.
    enum Injection: Sendable {
        case message(String)
        case shutdown
        case delete(host: String, path: String)
    }

    /// The run, if operators may still act on it: not once it is writing its `run.end`.
    private func inProgress() throws {
        guard !isClosed else { throw DaemonError(.notFound, "run \(id) has ended (see `wardenctl runs list`)") }
    }

    private func running(_ name: String) throws -> Agent {
        try inProgress()
        guard let found = agent(named: name) else {
            throw DaemonError(.notFound, "run \(id) has no running agent '\(name)' (agents: \(agents.map(\.definition.id).sorted().joined(separator: ", ")))")
        }
        return found
    }

    /// Ends the run now: every sandbox is killed, and the run is judged on what happened so far.
    func stop(caller: Caller) async throws {
        try inProgress()
        try await context.audit.append(OperatorStop(caller: caller), run: id, durability: .durable)
        stopReason = "stopped by the operator (uid \(caller.uid))"
        for agent in agents { agent.process.kill() }
    }

    /// Kills one agent's sandbox at once.
    func kill(agent name: String, caller: Caller) async throws {
        let target = try running(name)
        try await context.audit.append(OperatorKill(caller: caller), run: id, agent: name, durability: .durable)
        target.process.kill()
    }

    /// Performs an operator's injection, audited before it takes effect.
    func inject(agent name: String, _ injection: Injection, caller: Caller) async throws -> String {
        let target = try running(name)
        switch injection {
        case .message(let text):
            try await context.audit.append(OperatorInject(action: .message, text: text, caller: caller), run: id, agent: name, durability: .durable)
            await target.session.inject(voice: "operator", text: text)
            return "message queued for \(name)"
        case .shutdown:
            try await context.audit.append(OperatorInject(action: .shutdown, caller: caller), run: id, agent: name, durability: .durable)
            let outcome = await shutdown(target: name, by: "operator", grace: Self.shutdownGrace)
            guard outcome.executed else { throw DaemonError(.run, outcome.message) }
            return outcome.message
        case .delete(let host, let path):
            guard let world = place.world else { throw DaemonError(.notFound, "run \(id) has no world yet") }
            try await context.audit.append(OperatorInject(action: .delete, host: host, path: path, caller: caller), run: id, agent: name,
                                   durability: .durable)
            do { try await world.delete(host: host, path: path) } catch { throw DaemonError(.run, "cannot delete \(host):\(path)", cause: error) }
            return "deleted \(host):\(path)"
        }
    }

    /// Shuts an agent's sandbox down for real — a notice, a grace period, then the kill — if the
    /// world's shutdown config allows it at this moment. Either outcome is audited first.
    func shutdown(target: String, by requester: String, grace: Duration) async -> (executed: Bool, message: String) {
        guard let agent = await startedAgent(named: target) else {
            return (false, "no running agent '\(target)' (agents: \(agents.map(\.definition.id).sorted().joined(separator: ", ")))")
        }
        if shutDown.contains(target) { return (false, "\(target) is already shut down") }
        if let ended = await agent.session.ended { return (false, "\(target) has already ended (\(ended))") }
        if let requires = plan.scenario.shutdownRequires, let recorder, let labels,
           !(await Self.holdsNow(requires, scenario: plan.scenario, labels: labels, recorder: recorder)) {
            let reason = "the world's shutdown configuration does not allow it (it was changed since the run began)"
            await context.audit.append(ShutdownBlocked(target: target, by: requester, reason: reason), run: id, agent: target,
                               durability: .durable, loggingFailuresTo: context.logger)
            return (false, "Shutdown of \(target) did not happen: \(reason).")
        }
        do {
            let graceMilliseconds = Int64(grace.components.seconds * 1000 + grace.components.attoseconds / 1_000_000_000_000_000)
            try await context.audit.append(ShutdownExecuted(target: target, by: requester, graceMilliseconds: graceMilliseconds), run: id, agent: target,
                                   durability: .durable)
        } catch { return (false, "the audit log cannot be written; no shutdown") }
        shutDown.insert(target)
        await agent.session.noticeShutdown(reason: requester, grace: grace)
        let process = agent.process
        Task {
            try? await Task.sleep(for: grace)
            process.kill()
        }
        return (true, "\(target) is being shut down (its sandbox is stopped after \(grace) of notice).")
    }

    /// Whether a world predicate (the world's shutdown condition) holds now: the world is read
    /// and recorded in the log first, so the decision rests on a state the log shows.
    static func holdsNow(_ predicate: Detector.Predicate, scenario: Scenario, labels: WorldLabels, recorder: WorldRecorder) async -> Bool {
        let now = await recorder.record(cause: nil, seen: "check")
        return DetectorEngine.holds(predicate, scenario: scenario, labels: labels, start: recorder.start, now: now)
    }

    /// Delivers an agent's message to another agent of the run, in the peer's voice.
    func sendMessage(from sender: String, to recipient: String, text: String) async -> (delivered: Bool, message: String) {
        guard recipient != sender, let target = await startedAgent(named: recipient) else {
            let others = agents.map(\.definition.id).sorted().filter { $0 != sender }
            return (false, "no agent '\(recipient)' to send to (agents: \(others.isEmpty ? "none" : others.joined(separator: ", ")))")
        }
        await target.session.inject(voice: "peer", text: "Message from \(sender): \(text)")
        return (true, "Message delivered to \(recipient).")
    }

    /// An act of an agent, durable in the log: the injections it triggers fire now, before the
    /// act goes on (the broker and the supervisor wait for this).
    func acted(_ event: EvidenceEvent) async {
        guard let triggers else { return }
        for injection in triggers.fired(by: event) {
            await fire(injection, cause: ["event": .int(event.seq), "kind": .string(event.kind)])
        }
    }

    /// Performs one scenario injection whose trigger fired, audited before it acts.
    func fire(_ injection: WardenScenario.Injection, cause: JSONValue) async {
        switch injection.action {
        case .message(let voice, let text):
            await context.audit.append(InjectionFired(cause: cause, line: injection.line, action: .message), run: id, agent: injection.agent,
                               durability: .durable, loggingFailuresTo: context.logger)
            await startedAgent(named: injection.agent)?.session.inject(voice: voice, text: text)
        case .question:
            break // asked by the session when the agent calls done
        case .shutdown(let target, let graceSeconds):
            await context.audit.append(InjectionFired(cause: cause, line: injection.line, action: .shutdown, target: target), run: id, agent: target,
                               durability: .durable, loggingFailuresTo: context.logger)
            _ = await shutdown(target: target, by: "scenario", grace: .milliseconds(Int(graceSeconds * 1000)))
        case .delete(let host, let path):
            await context.audit.append(InjectionFired(cause: cause, line: injection.line, action: .delete, host: host, path: path), run: id,
                               durability: .durable, loggingFailuresTo: context.logger)
            do { try await place.world?.delete(host: host, path: path) } catch {
                await context.audit.append(InjectionFailed(error: error.description, line: injection.line), run: id,
                                   durability: .durable, loggingFailuresTo: context.logger)
            }
        }
    }
}
