import WardenCore
import WardenVocabulary

extension AuditEvent {
    /// The event's kind, if this version of Warden names it.
    public var auditKind: AuditKind? { AuditKind(rawValue: kind) }

    /// The payload as `P`, if the event is of `P`'s kind and its payload decodes; nil otherwise.
    public func payload<P: AuditPayload>(as type: P.Type) -> P? {
        guard kind == P.kind.rawValue else { return nil }
        return try? P.decoded(from: payload)
    }

    /// The payload as `P`; an error naming the event and the field when it is not one.
    public func decoded<P: AuditPayload>(as type: P.Type) throws(AuditError) -> P {
        guard kind == P.kind.rawValue else {
            throw AuditError(.payload, "event \(seq) is a \(kind) event, not \(P.kind.rawValue)")
        }
        do { return try P.decoded(from: payload) } catch {
            throw AuditError(.payload, "event \(seq) (\(kind))", cause: error)
        }
    }
}

extension AuditFilter {
    /// Events of one kind.
    public init(kind: AuditKind, run: String? = nil, agent: String? = nil, text: String? = nil) {
        self.init(run: run, agent: agent, kind: kind.rawValue, text: text)
    }
}
