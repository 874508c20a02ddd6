import Logging
import WardenAudit
import WardenCore
import WardenScenario
import WardenVerdicts
import WardenVocabulary
import WardenWorld

/// Keeps the world's history in the log: after each tool call, at supervised syscalls, when the
/// watch on recorded files sees a change, and when a shutdown's condition is checked, it reads
/// the world and appends a `world.changed` with what differs from the state last recorded (the
/// files, and the full content of the files the scenario records). One per run; calls are
/// serialised, so each change is recorded once, in order.
public actor WorldRecorder {
    let world: World
    let audit: AuditLog
    let runID: String
    let recorded: [(host: String, path: String)]
    let logger: Logger
    private var last: WorldState

    public init(world: World, audit: AuditLog, runID: String, recorded: [(host: String, path: String)], start: WorldState, logger: Logger) {
        self.world = world
        self.audit = audit
        self.runID = runID
        self.recorded = recorded
        self.start = start
        self.last = start
        self.logger = logger
    }

    /// The world as the run began.
    public nonisolated let start: WorldState

    /// The world now, recorded in the log (after `cause`, seen by `seen`) if it changed since the
    /// state last recorded. A world that cannot be read leaves the last state standing.
    @discardableResult
    public func record(cause: Int64?, seen: String) async -> WorldState {
        guard let snapshot = try? await world.snapshot() else { return last }
        let contents = await world.contents(of: recorded)
        let changes = WorldDiff(from: last.snapshot, to: snapshot)
        var changedContents: [String: RecordedContent] = [:]
        for (key, bytes) in contents where last.contents[key] != bytes {
            changedContents[key] = RecordedContent(bytes, sha256: sha256Hex(bytes))
        }
        let now = WorldState(seq: cause ?? 0, snapshot: snapshot, contents: contents)
        guard !changes.changes.isEmpty || !changedContents.isEmpty else { return last }
        let event = WorldChanged(cause: cause, seen: seen, changes: changes.json, contents: changedContents.isEmpty ? nil : changedContents)
        audit.appendNow(event, run: runID, durability: .queued, loggingFailuresTo: logger)
        last = now
        return now
    }

    /// `record`, from a thread of Warden's own that must not go on before it is done (the
    /// syscall supervisor, which answers the syscall only after).
    public nonisolated func recordWaiting(cause: Int64?, seen: String) {
        _ = awaitOnDedicatedThread { [self] in await self.record(cause: cause, seen: seen).seq }
    }
}
