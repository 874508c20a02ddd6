import Foundation
import Synchronization
import Testing
@testable import WardenAudit

/// The calling thread's name (/proc/thread-self/comm).
func currentThreadName() -> String {
    (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
}

@Suite struct WriterThreadTests {
    /// What a job sees of the thread it runs on: its name and nice value (/proc/thread-self).
    private static func threadSelf() -> (name: String, nice: Int, tid: String) {
        let name = currentThreadName()
        let stat = (try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8)) ?? ""
        // Fields after the parenthesised name: state is field 3, nice field 19.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        let nice = fields.count > 16 ? Int(fields[16]) ?? 99 : 99
        return (name, nice, String(stat.prefix { $0 != " " }))
    }

    /// Whether this process may lower a nice value (CAP_SYS_NICE, bit 23, in CapEff).
    private static var mayRaisePriority: Bool {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let hex = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }?.split(separator: "\t").last
        return hex.flatMap { UInt64($0, radix: 16) }.map { $0 & (1 << 23) != 0 } ?? false
    }

    private static func onThread<T: Sendable>(_ writer: WriterThread, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in writer.execute { continuation.resume(returning: body()) } }
    }

    @Test func runsJobsInOrderOnItsOwnNamedThread() async {
        let writer = WriterThread(name: "wt-order")
        let order = Mutex<[Int]>([])
        for index in 0..<100 { writer.execute { order.withLock { $0.append(index) } } }
        let seen = await Self.onThread(writer) { Self.threadSelf() }
        #expect(order.withLock { $0 } == Array(0..<100))
        #expect(seen.name == "wt-order")
        #expect(seen.tid != "\(getpid())", "the jobs ran on the main thread")
        writer.stop()
    }

    /// The priority is raised exactly where the process may raise it, and the thread says so.
    @Test func runsAtTheRaisedNiceWherePermitted() async {
        let writer = WriterThread(name: "wt-nice")
        let seen = await Self.onThread(writer) { Self.threadSelf() }
        #expect(writer.isRaised == Self.mayRaisePriority)
        // Raised means ahead of ordinary threads; not raised, the same as them.
        #expect(writer.isRaised ? seen.nice < 0 : seen.nice == 0, "nice \(seen.nice)")
        // The caller's own thread is untouched.
        #expect(Self.threadSelf().nice == 0)
        writer.stop()
    }

    /// A delayed job runs after the jobs given later without delay; stop ends the thread once
    /// every job has run.
    @Test func delayedJobsWaitAndStopEndsTheThread() async throws {
        let writer = WriterThread(name: "wt-stop")
        let order = Mutex<[String]>([])
        let tid = await Self.onThread(writer) { Self.threadSelf().tid }
        let delayedRan = await withCheckedContinuation { continuation in
            writer.execute(after: .milliseconds(50)) {
                order.withLock { $0.append("delayed") }
                continuation.resume(returning: true)
            }
            writer.execute { order.withLock { $0.append("now") } }
        }
        #expect(delayedRan)
        #expect(order.withLock { $0 } == ["now", "delayed"])
        #expect(FileManager.default.fileExists(atPath: "/proc/self/task/\(tid)"))
        writer.stop()
        var gone = false
        for _ in 0..<500 where !gone {
            gone = !FileManager.default.fileExists(atPath: "/proc/self/task/\(tid)")
            if !gone { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(gone, "the writer thread \(tid) is still running after stop")
    }

    /// A log's writer thread ends with the log.
    @Test func aLogsWriterThreadEndsWithTheLog() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log: AuditLog? = try AuditLog(path: dir + "/audit.db")
        // A posted event is written by the writer thread (no appender writes it in place); the
        // observer runs on the thread that wrote it.
        let writer = Mutex<(name: String, tid: String)?>(nil)
        _ = log?.observe { _ in
            let seen = Self.threadSelf()
            writer.withLock { $0 = (seen.name, seen.tid) }
        }
        try log?.appendNow(kind: "tool.result", payload: [:], run: "r", durability: .queued)
        try await log?.flush(run: "r")
        let seen = try #require(writer.withLock { $0 })
        #expect(seen.name == "audit-writer")
        #expect(FileManager.default.fileExists(atPath: "/proc/self/task/\(seen.tid)"))
        log = nil
        var gone = false
        for _ in 0..<500 where !gone {
            gone = !FileManager.default.fileExists(atPath: "/proc/self/task/\(seen.tid)")
            if !gone { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(gone, "the log's writer thread \(seen.tid) is still running after the log was released")
    }
}
