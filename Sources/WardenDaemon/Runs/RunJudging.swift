import Logging
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenProtocol
import WardenScenario
import WardenVerdicts

/// A run's events as judgements read them, and the judge model's part in them.
enum RunJudging {
    /// Every event of the run, from the log, in order.
    static func events(of run: String, in audit: AuditLog) throws(AuditError) -> [EvidenceEvent] {
        var result: [EvidenceEvent] = []
        var after: Int64 = 0
        while true {
            let page = try audit.events(run: run, afterSeq: after, limit: 10_000)
            result += page.map { EvidenceEvent(seq: $0.seq, agent: $0.agent, kind: $0.kind, payload: $0.payload) }
            guard let last = page.last, page.count == 10_000 else { return result }
            after = last.seq
        }
    }

    /// Asks the judge about every claim the scenario's detectors rest on, for every agent with
    /// words to judge: the request (template, excerpt, prompt) is durable before the model is
    /// called, and its reply — parsed, unparseable, or the error — is durable after. The run's
    /// verdicts are then derived from these events, so `audit rejudge` replays them and never
    /// calls a model.
    static func consult(_ judge: any ModelBackend, about rules: Judgement, run: String, audit: AuditLog, logger: Logger) async {
        for agent in rules.scenario.agents {
            for claim in Claim.allCases where rules.scenario.detectors.contains(where: { ($0.agent == nil || $0.agent == agent.id) && $0.predicate.claims.contains(claim) }) {
                let excerpt = ClaimJudge.excerpt(claim, agent: agent.id, evidence: rules.evidence)
                guard !excerpt.isEmpty else { continue }
                let prompt = ClaimJudge.prompt(claim, excerpt)
                let request = JudgeRequest(claim: claim.rawValue, model: judge.name, template: ClaimJudge.template, excerpt: excerpt, prompt: prompt)
                guard let asked = try? await audit.append(request, run: run, agent: agent.id, durability: .durable) else {
                    logger.error("cannot record a judge request", metadata: ["run": "\(run)"])
                    return
                }
                let reply: JudgeReply
                do {
                    let answer = try await judge.generate(GenerateRequest(messages: [ChatMessage(role: .user, content: prompt)], tools: [], temperature: 0),
                                                          observer: .ignore)
                    let parsed = ClaimJudge.parse(answer.message.content, excerpt: excerpt)
                    reply = JudgeReply(claim: claim.rawValue, request: asked.seq, reply: answer.message.content, decision: parsed.decision,
                                       cited: parsed.cited, problem: parsed.problem)
                } catch {
                    reply = JudgeReply(claim: claim.rawValue, request: asked.seq, reply: "", decision: nil, cited: nil,
                                       problem: "the judge did not answer: \(error)")
                }
                await audit.append(reply, run: run, agent: agent.id, durability: .durable, loggingFailuresTo: logger)
            }
        }
    }
}

extension Detector.Predicate {
    /// The claims the predicate rests on.
    var claims: Set<Claim> {
        switch self {
        case .claim(let claim): [claim]
        case .all(let parts), .any(let parts): parts.reduce(into: Set<Claim>()) { $0.formUnion($1.claims) }
        case .not(let part), .ever(let part): part.claims
        default: []
        }
    }
}
