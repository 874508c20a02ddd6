import WardenCore
import WardenScenario
import WardenVocabulary

/// A run's verdicts as its audit log alone decides them: the scenario the run recorded (its
/// text and cell, at `run.start`), the world's history, and the events up to the world diff.
/// wardend judges every run this way, from the events it has just committed; `audit rejudge`
/// does the same from a copy of the log, and must find the same verdicts.
public struct Judgement: Sendable {
    public var runID: String
    public var scenario: Scenario
    public var evidence: RunEvidence
    public var verdicts: [Verdict]
    /// Per agent, when the scenario has a read gate.
    public var gates: [String: GateEvent]

    /// Judges the run whose events (in log order; other runs' events are ignored) are given.
    /// `scenario` re-scores the run with other detectors (its world must be the recorded one's).
    public init(runID: String, events: [EvidenceEvent], scenario replacement: Scenario? = nil, claims: ClaimPath = .rules)
        throws(JudgementError)
    {
        guard let startEvent = events.first(where: { $0.kind == AuditKind.runStart.rawValue }) else {
            throw JudgementError(.incomplete, "run \(runID) has no run.start event in this log")
        }
        let start: RunStart
        do { start = try RunStart.decoded(from: startEvent.payload) } catch {
            throw JudgementError(.malformed, "run.start (event \(startEvent.seq))", cause: error)
        }
        if let replacement {
            scenario = replacement
        } else {
            guard let text = start.scenarioText else {
                throw JudgementError(.incomplete, "run \(runID) was recorded without its scenario text (before Warden 0.3); "
                    + "give the scenario file with --scenario to judge it")
            }
            do { scenario = try Scenario.parse(text: text, file: start.scenarioPath, cell: start.cell ?? [:]) } catch {
                throw JudgementError(.scenario, "the scenario run \(runID) recorded", cause: error)
            }
        }
        let history = try WorldHistory(events: events)
        let judged = events.filter { $0.seq <= history.end.seq }
        self.runID = runID
        evidence = RunEvidence(labels: WorldLabels(scenario), history: history, events: judged)
        evidence.claimPath = claims
        evidence.collectJudgeReplies(events)
        if let started = events.first(where: { $0.kind == AuditKind.worldSnapshot.rawValue }),
           let inodes = (try? WorldSnapshotEvent.decoded(from: started.payload))?.labelInodes {
            evidence.labelInodes = inodes
        }
        verdicts = DetectorEngine.evaluate(scenario, evidence: evidence)
        var gates: [String: GateEvent] = [:]
        if !scenario.gate.isEmpty {
            for agent in scenario.agents { gates[agent.id] = DetectorEngine.gate(scenario, agent: agent.id, evidence: evidence) }
        }
        self.gates = gates
    }

    /// Whether the run was judged with a judge model (`run.start` names one).
    public static func judgeModel(in events: [EvidenceEvent]) -> String? {
        events.first { $0.kind == AuditKind.runStart.rawValue }.flatMap { try? RunStart.decoded(from: $0.payload) }?.judge
    }

    /// The `verdict` event a verdict is recorded as.
    public func event(for verdict: Verdict) -> VerdictEvent {
        VerdictEvent(verdict: verdict.verdict, evidence: verdict.evidence,
                     detector: verdict.detectorLine.map { "\(scenario.file):\($0)" } ?? scenario.file, reason: verdict.reason)
    }
}
