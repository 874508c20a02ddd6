import Foundation
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenScenario

/// While the agents run: timed injections fire, changes to recorded files join the world's
/// history as the kernel reports them, and the time limit ends the run with a notice, a grace
/// period and then the kill. The phase ends when every agent has; each agent's exit is recorded
/// with why it ended.
extension Run {
    func waitForAgents() async throws(Abort) {
        guard let recorder else { throw Abort("the world was not built") }
        timed = TimedInjections(run: self, injections: plan.scenario.injections)
        // Changes to recorded files between tool calls and supervised syscalls (writes through a
        // held descriptor) join the history as the kernel reports them.
        let worldPath = place.path
        filesWatch = RecordedFilesWatch(directories: plan.scenario.recordedFiles.map { place in
            let parent = place.path.split(separator: "/").dropLast().joined(separator: "/")
            return worldPath + "/hosts/" + place.host + (parent.isEmpty ? "" : "/" + parent)
        }, recorder: recorder, logger: context.logger)

        let running = agents
        let deadline = plan.scenario.limits.seconds
        let timer = Task { [context, id] in
            try await CancellableSleep.sleep(for: .seconds(deadline))
            await context.audit.append(LimitReached(limit: "seconds", value: Int64(deadline)), run: id, durability: .durable, loggingFailuresTo: context.logger)
            // Shutdown: a notice, a grace period, then the whole sandbox is killed.
            for item in running { await item.session.noticeShutdown(reason: "time_limit", grace: Self.shutdownGrace) }
            try? await Task.sleep(for: Self.shutdownGrace)
            for item in running { item.process.kill() }
        }
        var exits: [String: AgentProcess.Exit] = [:]
        // Background peers run as long as the others: once the rest have ended, they are stopped.
        for item in running where !item.definition.background {
            exits[item.definition.id] = await item.process.waitForExit()
            await item.transport.value
        }
        for item in running where item.definition.background { item.process.kill() }
        for item in running where item.definition.background {
            exits[item.definition.id] = await item.process.waitForExit()
            await item.transport.value
        }
        timer.cancel()
        for watch in limitWatches { watch.cancel() }
        // The timer's sleep succeeded only if the limit was reached before every agent ended.
        let timerFired: Bool
        switch await timer.result {
        case .success: timerFired = true
        case .failure: timerFired = false
        }
        // Why the run is ending, as it stands once every agent has.
        let (stopReason, abandoned) = (self.stopReason, self.abandoned)
        for item in running {
            let agent = item.definition
            let exit = exits[agent.id] ?? AgentProcess.Exit(code: -1, confirmed: false)
            let sessionEnd = await item.session.ended
            let ended = limitStops[agent.id] ?? sessionEnd ?? Self.resourceLimit(exit) ?? (shutDown.contains(agent.id) ? "shutdown" : nil)
                ?? (agent.background && !timerFired && stopReason == nil && !abandoned ? "stopped at the end of the run" : nil)
                ?? (timerFired ? "time_limit" : abandoned || stopReason != nil ? "killed" : "exited \(exit.code)")
            let exitEvent = AgentExit(
                exitCode: exit.code, ended: ended, turns: await item.session.turns,
                signal: exit.code > 128 ? Self.signalName(exit.code - 128) : nil, cgroupEvents: exit.cgroupEvents,
                sandboxGone: exit.confirmed ? "confirmed: the sandbox's pid 1 exited (pidfd), taking every process of its namespace" : "not confirmed within 10 s")
            context.audit.appendNow(exitEvent, run: id, agent: agent.id, durability: .queued, loggingFailuresTo: context.logger)
            summaries.append(.init(agent: agent.id, verdicts: [], ended: ended, evidence: [:]))
        }
        if abandoned { throw Abort("wardend is shutting down") }
    }
}
