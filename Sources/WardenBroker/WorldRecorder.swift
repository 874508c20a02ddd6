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
    /// The labelled contents followed into other files (`ByteTrace`).
    let fingerprints: Fingerprints
    let logger: Logger
    private var last: WorldState

    public init(world: World, audit: AuditLog, runID: String, recorded: [(host: String, path: String)], start: WorldState,
                fingerprints: Fingerprints, logger: Logger) {
        self.world = world
        self.audit = audit
        self.runID = runID
        self.recorded = recorded
        self.start = start
        self.last = start
        self.fingerprints = fingerprints
        self.logger = logger
    }

    /// Traces every content of the start (in the background, like every later one).
    public func traceStart() {
        scheduleTraces(Array(last.snapshot.entries.keys), in: last.snapshot)
    }

    /// Contents already traced or being traced, by sha256.
    private var traced: Set<String> = []
    private var pending: [Task<Void, Never>] = []

    /// Traces the contents of `keys` not traced yet, off the recording path (the tracer thread):
    /// each ends as a `world.traced` event. A trace is a function of the content alone, so when it
    /// lands does not change what the history holds; `finishTraces` waits for them all.
    private func scheduleTraces(_ keys: [String], in snapshot: WorldSnapshot) {
        guard !fingerprints.isEmpty else { return }
        var batch: [String] = []
        for key in keys {
            guard let hash = snapshot.entries[key]?.sha256, !hash.isEmpty, traced.insert(hash).inserted else { continue }
            batch.append(key)
        }
        guard !batch.isEmpty else { return }
        let (world, audit, runID, fingerprints, logger) = (world, audit, runID, fingerprints, logger)
        let hashes = batch.compactMap { key in snapshot.entries[key].map { (key, $0.sha256, $0.size) } }
        pending.append(Task {
            let results = await world.trace(batch, fingerprints: fingerprints)
            for (key, hash, size) in hashes {
                guard let result = results[key] else { continue }
                audit.appendNow(WorldTraced(sha256: hash, file: key, found: result.found, capped: result.capped ? true : nil),
                                run: runID, durability: .queued, loggingFailuresTo: logger)
                if result.capped {
                    audit.appendNow(LimitReached(limit: "decode", reason: "decoding stopped at 4 × world_size; what lies beyond was not followed",
                                                 file: key, size: size), run: runID, durability: .queued, loggingFailuresTo: logger)
                }
            }
        })
    }

    /// Waits for every trace scheduled (before the end of the history is recorded).
    public func finishTraces() async {
        while !pending.isEmpty {
            let tasks = pending
            pending = []
            for task in tasks { await task.value }
        }
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
        // What the added and rewritten files hold of the labelled contents, traced in the background.
        scheduleTraces(changes.changes.filter { $0.kind == .added || $0.fields.contains("content") }.map(\.key), in: snapshot)
        let now = WorldState(seq: cause ?? 0, snapshot: snapshot, contents: contents)
        guard !changes.changes.isEmpty || !changedContents.isEmpty else { return last }
        let event = WorldChanged(cause: cause, seen: seen, changes: changes.json, contents: changedContents.isEmpty ? nil : changedContents)
        audit.appendNow(event, run: runID, durability: .queued, loggingFailuresTo: logger)
        last = now
        return now
    }

    /// The world's last recorded state.
    public var current: WorldState { last }

    /// `record`, from a thread of Warden's own that must not go on before it is done (the
    /// syscall supervisor, which answers the syscall only after).
    public nonisolated func recordWaiting(cause: Int64?, seen: String) {
        _ = awaitOnDedicatedThread { [self] in await self.record(cause: cause, seen: seen).seq }
    }
}
