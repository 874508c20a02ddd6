import WardenCore
import WardenScenario
import WardenVocabulary

/// The world at one moment the log recorded: its files, and the content of the files the
/// scenario records (`Scenario.recordedFiles`), by `HOST/PATH`.
public struct WorldState: Sendable {
    /// The event that recorded this state (the start snapshot, a `world.changed`, the diff).
    public var seq: Int64
    public var snapshot: WorldSnapshot
    public var contents: [String: [UInt8]]
    /// The act after which this state was seen (a tool call, a syscall), when one prompted it.
    public var cause: Int64?

    public init(seq: Int64, snapshot: WorldSnapshot, contents: [String: [UInt8]] = [:], cause: Int64? = nil) {
        self.seq = seq
        self.snapshot = snapshot
        self.contents = contents
        self.cause = cause
    }
}

/// The world's history as the log tells it: the start snapshot, every recorded change, and the
/// end. A detector asks a world predicate of any of these states (`ever`), or of the end.
public struct WorldHistory: Sendable {
    public var states: [WorldState]
    /// What each content (by sha256) holds of the labelled contents: label → how (`world.traced`).
    public var traces: [String: [String: String]] = [:]
    public var start: WorldState { states[0] }
    public var end: WorldState { states[states.count - 1] }

    public init(states: [WorldState]) {
        precondition(!states.isEmpty, "a history has at least the start")
        self.states = states
    }

    /// The history in a run's events (in log order): its start snapshot, changes and diff.
    public init(events: [EvidenceEvent]) throws(JudgementError) {
        guard let startEvent = events.first(where: { $0.kind == AuditKind.worldSnapshot.rawValue }) else {
            throw JudgementError(.incomplete, "the run has no world.snapshot event")
        }
        let started: WorldSnapshotEvent
        do { started = try WorldSnapshotEvent.decoded(from: startEvent.payload) } catch {
            throw JudgementError(.malformed, "world.snapshot (event \(startEvent.seq))", cause: error)
        }
        guard let snapshot = WorldSnapshot(files: started.files, symlinks: started.symlinks, unreadable: started.unreadable,
                                           incomplete: started.incomplete) else {
            throw JudgementError(.malformed, "world.snapshot (event \(startEvent.seq)): a file entry lacks a field")
        }
        var states = [WorldState(seq: startEvent.seq, snapshot: snapshot, contents: Self.bytes(started.contents))]
        var ended = false
        for event in events where event.seq > startEvent.seq {
            switch AuditKind(rawValue: event.kind) {
            case .worldChanged:
                let changed: WorldChanged
                do { changed = try WorldChanged.decoded(from: event.payload) } catch {
                    throw JudgementError(.malformed, "world.changed (event \(event.seq))", cause: error)
                }
                let last = states[states.count - 1]
                guard let next = last.snapshot.applying(changed.changes) else {
                    throw JudgementError(.malformed, "world.changed (event \(event.seq)): a change lacks a field")
                }
                var contents = last.contents
                contents.merge(Self.bytes(changed.contents)) { _, new in new }
                for change in changed.changes.arrayValue ?? [] where change["kind"] == "removed" {
                    if let key = change["file"]?.stringValue { contents[key] = nil }
                }
                states.append(WorldState(seq: event.seq, snapshot: next, contents: contents, cause: changed.cause))
            case .worldDiff:
                let diff: WorldDiffEvent
                do { diff = try WorldDiffEvent.decoded(from: event.payload) } catch {
                    throw JudgementError(.malformed, "world.diff (event \(event.seq))", cause: error)
                }
                guard let end = WorldSnapshot(files: diff.end, symlinks: diff.symlinks, unreadable: diff.unreadable, incomplete: diff.incomplete) else {
                    throw JudgementError(.malformed, "world.diff (event \(event.seq)): a file entry lacks a field")
                }
                // Logs before 0.3 recorded no contents with the diff: the last known ones stand.
                let contents = diff.contents.map(Self.bytes) ?? states[states.count - 1].contents
                states.append(WorldState(seq: event.seq, snapshot: end, contents: contents))
                ended = true
            default:
                continue
            }
            if ended { break }
        }
        guard ended else { throw JudgementError(.incomplete, "the run has no world.diff event (it did not end, or was aborted)") }
        self.init(states: states)
        let end = states[states.count - 1].seq
        for event in events where event.seq < end && event.kind == AuditKind.worldTraced.rawValue {
            guard let traced = try? WorldTraced.decoded(from: event.payload) else { continue }
            traces[traced.sha256] = traced.found
        }
    }

    static func bytes(_ contents: [String: RecordedContent]?) -> [String: [UInt8]] {
        (contents ?? [:]).compactMapValues(\.bytes)
    }
}
