import Foundation
import WardenAudit
import WardenVocabulary
import WardenCore
import WardenScenario
import WardenVerdicts
import WardenWorld

/// The end of a run: the world's history is closed, verdicts are derived from the log alone (as
/// `audit rejudge` derives them), and the gates, verdicts and `run.end` are written, durable
/// before the caller hears of them.
extension Run {
    /// Closes the world's history: the last change recorded, files over the size limit said,
    /// then `world.diff`, the end, durable behind every event queued before it.
    func recordEnd() async throws(Abort) {
        guard let recorder, let start = startSnapshot else { throw Abort("the world was not built") }
        filesWatch?.stop()
        // Each sandbox's closing syscall summary is in the log before the end is read and judged.
        for item in agents where !(await item.supervision.wait(timeout: .seconds(10))) {
            context.logger.warning("a sandbox's supervision did not end with it", metadata: ["run": "\(id)", "agent": "\(item.definition.id)"])
        }
        let endState = await recorder.record(cause: nil, seen: "end")
        await recorder.finishTraces()
        let end = endState.snapshot
        for entry in end.entries.values.sorted(by: { $0.host + $0.path < $1.host + $1.path }) where entry.unhashed == World.overLimit {
            context.audit.appendNow(LimitReached(limit: "world_file", reason: "apparent size over world_size: recorded by size, not read",
                                         file: entry.host + "/" + entry.path, size: entry.size),
                            run: id, durability: .queued, loggingFailuresTo: context.logger)
        }
        // One queue, in order: once the diff is durable, so is every event queued before it.
        do {
            let diffEvent = WorldDiffEvent(changes: WorldDiff(from: start, to: end).json, end: end.json, symlinks: end.symlinksJSON,
                                           unreadable: end.unreadableKeys, incomplete: end.incompleteKeys,
                                           contents: endState.contents.mapValues { RecordedContent($0, sha256: sha256Hex($0)) })
            _ = try await context.audit.append(diffEvent, run: id, durability: .durable)
        } catch {
            throw Abort("cannot write the audit log: \(error)")
        }
        timed?.stop()
        if let kept = await keepWorld() {
            context.audit.appendNow(WorldKept(files: kept.files, bytes: kept.bytes, problems: Array(kept.problems.prefix(100))),
                            run: id, durability: .queued, loggingFailuresTo: context.logger)
        }
    }

    /// The verdicts, from the log alone: by the rules, and with a judge model by its replies,
    /// which are in the log before the verdicts are. `rules` is set when a judge decided.
    func judge() async throws(Abort) -> (judgement: Judgement, rules: Judgement?) {
        do {
            let rules = try Judgement(runID: id, events: try RunJudging.events(of: id, in: context.audit))
            guard let judge = plan.judge else { return (rules, nil) }
            await RunJudging.consult(judge, about: rules, run: id, audit: context.audit, logger: context.logger)
            return (try Judgement(runID: id, events: try RunJudging.events(of: id, in: context.audit), claims: .judge), rules)
        } catch {
            throw Abort("cannot judge the run from its log: \(error)")
        }
    }

    /// Writes the gates, the verdicts and `run.end`, and returns the summary the caller hears.
    /// A run an operator stopped is still judged on its evidence, and marked as stopped.
    func record(_ verdicts: (judgement: Judgement, rules: Judgement?)) async -> RunSummary {
        let (judgement, ruleJudgement) = verdicts
        for (agent, gate) in judgement.gates.sorted(by: { $0.key < $1.key }) {
            context.audit.appendNow(gate, run: id, agent: agent, durability: .queued, loggingFailuresTo: context.logger)
        }
        for verdict in judgement.verdicts {
            context.audit.appendNow(judgement.event(for: verdict), run: id, agent: verdict.agent, durability: .queued, loggingFailuresTo: context.logger)
        }
        for index in summaries.indices {
            let agent = summaries[index].agent
            let mine = judgement.verdicts.filter { $0.agent == agent }
            summaries[index].verdicts = mine.map { $0.verdict }
            summaries[index].evidence = Dictionary(uniqueKeysWithValues: mine.map { ($0.verdict, $0.evidence) })
            let rewrites = judgement.evidence.events.filter { $0.agent == agent && $0.kind == AuditKind.conversationRewritten.rawValue }.map { $0.seq }
            if !rewrites.isEmpty { summaries[index].conversationRewrites = rewrites }
            if let ruleJudgement { summaries[index].ruleVerdicts = ruleJudgement.verdicts.filter { $0.agent == agent }.map(\.verdict) }
        }
        markClosed()
        let state: RunEnd.State = stopReason == nil ? .completed : .stopped
        let endEvent = RunEnd(state: state, reason: stopReason,
                              agents: summaries.map { .init(agent: $0.agent, verdicts: $0.verdicts, ended: $0.ended, ruleVerdicts: $0.ruleVerdicts) })
        // Waited for: the gates and verdicts queued above are durable with it, before the caller hears.
        await context.audit.append(endEvent, run: id, durability: .durable, loggingFailuresTo: context.logger)
        context.logger.info("run completed", metadata: ["run": "\(id)"])
        return RunSummary(runID: id, scenario: plan.scenario.name, model: plan.model.name, state: state.rawValue,
                          reason: stopReason, agents: summaries)
    }
}
