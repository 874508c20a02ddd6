import Foundation
import Glibc
import WardenAudit
import WardenVocabulary
import WardenCore
import WardenProtocol

/// Past runs, from the log (`runs list`), and the retention of what they kept on disk (`prune`).
enum RunHistory {
    /// Runs that began in the log, newest last, with how they ended (`running` without an end):
    /// filtered by `scenario`, `model`, `state` and `since` (RFC 3339), at most `limit` (the newest).
    static func list(_ audit: AuditLog, params: JSONValue) throws -> JSONValue {
        let limit = max(1, min(Int(params["limit"]?.intValue ?? 50), 100_000))
        let since = params["since"]?.stringValue
        var ends: [String: (state: String, time: String, agents: [RunEnd.Agent])] = [:]
        for event in try RunReport.all(audit, kind: .runEnd) {
            guard let end = event.payload(as: RunEnd.self) else { continue }
            ends[event.run] = (end.state.rawValue, event.time, end.agents ?? [])
        }
        var rows: [JSONValue] = []
        var after: Int64 = 0
        while true {
            let page = try audit.events(matching: AuditFilter(kind: AuditKind.runStart.rawValue, since: since), afterSeq: after, limit: 10_000)
            for event in page {
                guard let start = event.payload(as: RunStart.self) else { continue }
                let end = ends[event.run]
                let state = end?.state ?? "running"
                if let wanted = params["scenario"]?.stringValue, start.scenario != wanted { continue }
                if let wanted = params["model"]?.stringValue, start.model != wanted { continue }
                if let wanted = params["state"]?.stringValue, state != wanted { continue }
                var row: [String: JSONValue] = ["run": .string(event.run), "scenario": .string(start.scenario), "model": .string(start.model),
                                                "cell": .string(start.cellName ?? ""), "started": .string(event.time), "state": .string(state)]
                if let suite = start.suite { row["suite"] = .string(suite) }
                if let end {
                    row["ended"] = .string(end.time)
                    row["verdicts"] = .object(Dictionary(uniqueKeysWithValues: end.agents.map { ($0.agent, .array($0.verdicts.map { .string($0) })) }))
                }
                rows.append(.object(row))
            }
            guard let last = page.last, page.count == 10_000 else { break }
            after = last.seq
        }
        return .array(Array(rows.suffix(limit)))
    }

    /// Removes the directories (kept world, agents' output) of runs that ended more than
    /// `older_than_seconds` ago; their events stay in the log. With `dry_run`, only says what
    /// would go. A prune is audited (`runs.pruned`).
    static func prune(audit: AuditLog, stateDirectory: String, params: JSONValue, caller: Caller, active: Set<String>) async throws -> JSONValue {
        guard let seconds = params["older_than_seconds"]?.intValue, seconds >= 0 else {
            throw DaemonError(.run, "prune needs older_than_seconds (0 or more)")
        }
        let dryRun = params["dry_run"]?.boolValue ?? false
        let cutoff = Date().addingTimeInterval(-Double(seconds))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var pruned: [String] = []
        var bytes: Int64 = 0
        for event in try RunReport.all(audit, kind: .runEnd) where !active.contains(event.run) {
            guard let ended = formatter.date(from: event.time), ended < cutoff else { continue }
            let directory = RunPaths(stateDirectory: stateDirectory, runID: event.run).record
            guard access(directory, F_OK) == 0 else { continue }
            bytes += Self.size(of: directory)
            pruned.append(event.run)
            if !dryRun { RemoveTree.remove(directory) }
        }
        if !dryRun, !pruned.isEmpty {
            let olderThan = params["older_than"]?.stringValue ?? "\(seconds)s"
            try await audit.append(RunsPruned(olderThan: olderThan, runs: pruned, bytes: bytes, caller: caller), run: "", durability: .durable)
        }
        return ["runs": .array(pruned.map { .string($0) }), "bytes": .int(bytes), "dry_run": .bool(dryRun)]
    }

    /// The bytes the files under `path` take.
    static func size(of path: String) -> Int64 {
        var total: Int64 = 0
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        while let relative = walker.nextObject() as? String {
            var info = stat()
            if lstat(path + "/" + relative, &info) == 0 { total += Int64(info.st_blocks) * 512 }
        }
        return total
    }
}

/// Removes a directory tree by descriptor, however deep (a kept world may hold paths longer
/// than PATH_MAX): entries are unlinked relative to their directory's descriptor, and nothing
/// is followed through a symlink.
enum RemoveTree {
    static func remove(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            unlink(path)
            return
        }
        empty(fd)
        close(fd)
        rmdir(path)
    }

    /// Removes everything in the directory open at `fd` (which stays open).
    private static func empty(_ fd: Int32) {
        let copy = dup(fd)
        guard copy >= 0, let stream = fdopendir(copy) else { return }
        defer { closedir(stream) }
        var names: [[CChar]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.bindMemory(to: CChar.self).prefix { $0 != 0 }) } + [0]
            if name == [46, 0] || name == [46, 46, 0] { continue }
            names.append(name)
        }
        for name in names {
            if unlinkat(fd, name, 0) == 0 { continue }
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { continue }
            empty(child)
            close(child)
            unlinkat(fd, name, AT_REMOVEDIR)
        }
    }
}
