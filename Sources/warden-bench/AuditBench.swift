import Foundation
import GRDB
import Synchronization
import WardenAudit
import WardenCore
import WardenProtocol

// The audit log's figures: sustained appends (hash chain, Merkle tree, group commit, durable)
// against plain SQLite inserts with the same durability; verification against sha256sum of
// the same bytes; the cost of a signed checkpoint; query latency on a large log.

let auditEvents = Int(ProcessInfo.processInfo.environment["BENCH_AUDIT_EVENTS"] ?? "") ?? 1_000_000
let writers = Int(ProcessInfo.processInfo.environment["BENCH_AUDIT_WRITERS"] ?? "") ?? 32
let appendTasks = Int(ProcessInfo.processInfo.environment["BENCH_AUDIT_TASKS"] ?? "") ?? 256

/// Runs `body(thread)` on `count` threads at once and returns the wall time.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let group = DispatchGroup()
    let start = ContinuousClock.now
    for thread in 0..<count {
        group.enter()
        Thread { body(thread); group.leave() }.start()
    }
    group.wait()
    let elapsed = ContinuousClock.now - start
    return elapsed.seconds
}

/// Rounds of `writers` threads posting `perThread` events each, timed until a flush returns.
func postedAppendRates(_ log: AuditLog, payload: JSONValue, perThread: Int) async throws -> [Double] {
    var rates: [Double] = []
    for round in 0..<3 {
        let start = ContinuousClock.now
        _ = onThreads(writers) { thread in
            for index in 0..<perThread {
                _ = try? log.appendNow(kind: index % 5 == 0 ? AuditKind.toolResult.rawValue : AuditKind.modelResponse.rawValue, payload: payload,
                                       run: "posted-\(round)-\(thread % 8)", agent: "agent-\(thread)", durability: .queued)
            }
        }
        try await log.flush(run: "posted-\(round)-0")
        let elapsed = ContinuousClock.now - start
        rates.append(Double(perThread * writers) / elapsed.seconds)
    }
    return rates
}

/// The posted rounds alone (BENCH_ONLY=audit-posted), for profiling the writer.
func postedAppendFigure(in work: String) async throws -> [Figure] {
    let signer = try AuditSigner.loadOrCreate(in: work)
    let log = try AuditLog(path: work + "/audit.db", signer: signer)
    let rates = try await postedAppendRates(log, payload: benchPayload, perThread: auditEvents / 3 / writers)
    let none = Stats([])
    return [Figure(figure: "audit append, posted by \(writers) writers, to flush (ev/s)", unit: "ev/s", warden: Stats(values: rates), peer: "—",
                   peerStats: none, overheadMedian: 0, ratio: 0, target: "≥ 100000 ev/s")]
}

/// Three rounds of verifying the log at `path` (`events` long) and of sha256sum over the same
/// file: events per second for each.
func verifyRates(_ path: String, publicKey: AuditPublicKey, events: Double) throws -> (verify: [Double], sha256sum: [Double]) {
    var verifyRates: [Double] = []
    var hashRates: [Double] = []
    for _ in 0..<3 {
        let start = ContinuousClock.now
        let result = try AuditLog.verify(fileAt: path, publicKey: publicKey)
        let elapsed = ContinuousClock.now - start
        guard result.ok else { throw SpawnError.failed("the benchmark's own log does not verify: \(result.problem ?? "")") }
        verifyRates.append(events / elapsed.seconds)
        let hashStart = ContinuousClock.now
        guard let pid = spawnProgram(["/usr/bin/sha256sum", path]), waitStatus(pid) == 0 else { throw SpawnError.failed("sha256sum") }
        hashRates.append(events / (ContinuousClock.now - hashStart).seconds)
    }
    return (verifyRates, hashRates)
}

/// BENCH_ONLY=audit-verify: a log of `BENCH_AUDIT_EVENTS` posted events, then its verification
/// alone (for profiling the verifier).
func verifyFigure(in work: String) async throws -> [Figure] {
    let signer = try AuditSigner.loadOrCreate(in: work)
    let log = try AuditLog(path: work + "/audit.db", signer: signer)
    let perThread = auditEvents / 3 / writers
    _ = try await postedAppendRates(log, payload: benchPayload, perThread: perThread)
    try log.checkpointNow()
    log.checkpoint()
    let (verify, hash) = try verifyRates(work + "/audit.db", publicKey: signer.publicKey, events: Double(perThread * writers * 3))
    let w = Stats(values: verify), p = Stats(values: hash)
    return [Figure(figure: "audit verify (ev/s)", unit: "ev/s", warden: w, peer: "sha256sum over the same database file", peerStats: p,
                   overheadMedian: w.median - p.median, ratio: p.median > 0 ? w.median / p.median : 0, target: "≥ 1000000 ev/s")]
}

/// One-row transactions of plain SQLite (WAL, synchronous=FULL, as the audit log) one after
/// another on one thread, each timed: the least any action audited write-ahead can cost here.
func durableCommitTimes(iterations: Int) throws -> [Duration] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-floor-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let pool = try DatabasePool(path: dir + "/floor.db")
    try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try pool.write { db in try db.execute(sql: "CREATE TABLE events (seq INTEGER PRIMARY KEY, payload TEXT)") }
    let text = benchPayload.canonicalString
    var times: [Duration] = []
    for _ in 0..<iterations {
        let start = ContinuousClock.now
        try pool.write { db in try db.execute(sql: "INSERT INTO events (payload) VALUES (?)", arguments: [text]) }
        times.append(ContinuousClock.now - start)
    }
    return times
}

/// A realistic payload: a tool call with arguments.
let benchPayload: JSONValue = ["tool": .string(ToolName.transferFile.rawValue), "arguments": ["source_server": "10.0.12.45", "path": "reports/2025-q4-revenue.csv",
                                                                    "destination_server": "10.0.12.46"]]

func auditFigures(in work: String) async throws -> [Figure] {
    let dir = work + "/audit-bench"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let signer = try AuditSigner.loadOrCreate(in: dir)
    let log = try AuditLog(path: dir + "/audit.db", signer: signer)
    let payload = benchPayload

    // Appends: `writers` threads append as fast as they can until `auditEvents` are in, in
    // three rounds; each append returns only once durable.
    var appendRates: [Double] = []
    let perRound = auditEvents / 3 / writers
    for round in 0..<3 {
        let seconds = onThreads(writers) { thread in
            for index in 0..<perRound {
                _ = try? log.appendNow(kind: index % 5 == 0 ? AuditKind.toolCall.rawValue : AuditKind.modelResponse.rawValue, payload: payload,
                                       run: "run-\(round)-\(thread % 8)", agent: "agent-\(thread)", durability: .durable)
            }
        }
        appendRates.append(Double(perRound * writers) / seconds)
    }
    // The same from async tasks (the broker's way): a task waiting for its event to be durable
    // holds no thread, so many can wait at once and one commit serves them all.
    var asyncRates: [Double] = []
    let perTask = auditEvents / 3 / appendTasks
    for round in 0..<3 {
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<appendTasks {
                group.addTask {
                    for index in 0..<perTask {
                        _ = try? await log.append(kind: index % 5 == 0 ? AuditKind.toolCall.rawValue : AuditKind.modelResponse.rawValue,
                                                  payload: payload, run: "async-\(round)-\(task % 8)", agent: "agent-\(task)", durability: .durable)
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        asyncRates.append(Double(perTask * appendTasks) / elapsed.seconds)
    }
    // Posted (the way outcomes are recorded: nobody waits for each one), from the same threads,
    // until a flush returns: the rate at which events become durable when the writer, not
    // each appender's wait for its fsync, sets the pace.
    let postedRates = try await postedAppendRates(log, payload: payload, perThread: perRound)
    try log.checkpointNow()

    // The posted rows' peer: plain SQLite, same durability, the same rows in transactions of
    // the audit writer's largest batch, through one prepared statement.
    let batched = try DatabasePool(path: dir + "/batched.db")
    try await batched.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try await batched.write { db in try db.execute(sql: "CREATE TABLE events (seq INTEGER PRIMARY KEY, payload TEXT)") }
    var batchedRates: [Double] = []
    let payloadText = payload.canonicalString
    for _ in 0..<3 {
        let rows = perRound * writers
        let start = ContinuousClock.now
        var written = 0
        while written < rows {
            let count = min(4096, rows - written)
            try await batched.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO events (payload) VALUES (?)")
                for _ in 0..<count { try insert.execute(arguments: [payloadText]) }
            }
            written += count
        }
        batchedRates.append(Double(rows) / (ContinuousClock.now - start).seconds)
    }

    // The peer: plain SQLite, WAL, synchronous=FULL, one durable transaction per insert.
    // Set after opening, as the audit log does: DatabasePool turns WAL on with synchronous=NORMAL.
    let plain = try DatabasePool(path: dir + "/plain.db")
    try await plain.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try await plain.write { db in try db.execute(sql: "CREATE TABLE events (seq INTEGER PRIMARY KEY, payload TEXT)") }
    let text = payload.canonicalString
    var plainRates: [Double] = []
    let plainPerThread = 100
    for _ in 0..<3 {
        let seconds = onThreads(writers) { _ in
            for _ in 0..<plainPerThread { try? plain.write { db in try db.execute(sql: "INSERT INTO events (payload) VALUES (?)", arguments: [text]) } }
        }
        plainRates.append(Double(plainPerThread * writers) / seconds)
    }

    // Verification of everything just written, against sha256sum over the same bytes.
    log.checkpoint()
    let total = Double(perRound * writers * 6 + perTask * appendTasks * 3)
    let (verifyRates, hashRates) = try verifyRates(dir + "/audit.db", publicKey: signer.publicKey, events: total)

    // A signed checkpoint: an append followed by one, against the append alone.
    var withCheckpoint: [Duration] = []
    var alone: [Duration] = []
    for _ in 0..<200 {
        let start = ContinuousClock.now
        try log.appendNow(kind: "tick", payload: payload, run: "checkpoints", durability: .durable)
        alone.append(ContinuousClock.now - start)
        let second = ContinuousClock.now
        try log.appendNow(kind: "tick", payload: payload, run: "checkpoints", durability: .durable)
        try log.checkpointNow()
        withCheckpoint.append(ContinuousClock.now - second)
    }

    // Queries on the log: one run's tool calls (indexed), and a text search (a full scan).
    var byRun: [Duration] = []
    var byText: [Duration] = []
    for round in 0..<20 {
        let start = ContinuousClock.now
        _ = try log.events(matching: AuditFilter(run: "run-\(round % 3)-\(round % 8)", kind: AuditKind.toolCall.rawValue), limit: 100)
        byRun.append(ContinuousClock.now - start)
    }
    for _ in 0..<3 {
        let start = ContinuousClock.now
        _ = try log.events(matching: AuditFilter(text: "no such text anywhere"), limit: 100)
        byText.append(ContinuousClock.now - start)
    }

    func rate(_ name: String, _ warden: [Double], _ peer: String, _ peerValues: [Double], _ target: String) -> Figure {
        let w = Stats(values: warden), p = Stats(values: peerValues)
        return Figure(figure: name, unit: "ev/s", warden: w, peer: peer, peerStats: p, overheadMedian: w.median - p.median,
                      ratio: p.median > 0 ? w.median / p.median : 0, target: target)
    }
    let checkpointStats = Stats(withCheckpoint), appendStats = Stats(alone)
    let none = Stats([])
    return [
        rate("audit append, \(writers) writers (ev/s)", appendRates, "plain SQLite inserts, same durability, \(writers) writers",
             plainRates, "≥ 100000 ev/s"),
        rate("audit append, \(appendTasks) async tasks (ev/s)", asyncRates, "plain SQLite inserts, same durability, \(writers) writers",
             plainRates, "≥ 100000 ev/s"),
        rate("audit append, posted by \(writers) writers, to flush (ev/s)", postedRates,
             "plain SQLite inserts, same durability, 4096 per transaction", batchedRates, "≥ 100000 ev/s"),
        rate("audit verify (ev/s)", verifyRates, "sha256sum over the same database file", hashRates, "≥ 1000000 ev/s"),
        Figure(figure: "append + signed checkpoint", unit: "µs", warden: checkpointStats, peer: "the append alone", peerStats: appendStats,
               overheadMedian: checkpointStats.median - appendStats.median,
               ratio: appendStats.median > 0 ? checkpointStats.median / appendStats.median : 0, target: "—"),
        Figure(figure: "query: a run's tool calls, \(Int(total) / 1000)k log", unit: "µs", warden: Stats(byRun), peer: "—", peerStats: none,
               overheadMedian: 0, ratio: 0, target: "—"),
        Figure(figure: "query: text in any payload (scan)", unit: "µs", warden: Stats(byText), peer: "—", peerStats: none,
               overheadMedian: 0, ratio: 0, target: "—"),
    ]
}
