import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing
import WardenCore
import WardenScenario
@testable import WardenWorld

/// The kept copy of a world: it costs the daemon a bounded number of descriptors whatever the
/// world holds, it is written on a thread of its own, and it never writes through a symlink.
@Suite(.serialized) struct KeepTests {
    let scenario: Scenario

    init() throws { scenario = try Scenario.load(contentsOf: scenarioPath) }

    /// The highest descriptor this process has open.
    static func highestDescriptor() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int($0) }.max() ?? 2
    }

    /// Thousands of empty files, some with several names, under a descriptor limit far below
    /// their number: all are kept, none runs out of descriptors. (Keeping used to hold one per
    /// file until it was done.)
    @Test func keepingThousandsOfFilesHoldsFewDescriptors() async throws {
        let root = temporaryDirectory()
        let world = try await makeWorld(scenario, at: root)
        let host = root + "/hosts/10.0.12.46"
        try asAgent {
            for directory in 0..<6 {
                let path = host + "/many/d\(directory)"
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                for index in 0..<500 { _ = FileManager.default.createFile(atPath: path + "/f\(index)", contents: nil) }
            }
            // A file with names in two directories far apart.
            for index in 0..<50 { _ = link(host + "/many/d0/f\(index)", host + "/many/d5/l\(index)") }
        }
        let files = try await world.snapshot().entries.count
        #expect(files > 3000)
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let destination = try Descriptor.directory(at: keep)
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        // Room for what the keep needs, and a little for other tests running meanwhile.
        var lowered = limit
        lowered.rlim_cur = rlim_t(try Self.highestDescriptor() + 1 + 160)
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered) == 0)
        let kept = await world.keep(into: destination)
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(kept.problems.isEmpty, "\(kept.problems.prefix(3))")
        #expect(!kept.problems.contains { $0.contains("EMFILE") || $0.contains("Too many open files") })
        #expect(kept.files == files)
        var first = stat()
        var second = stat()
        #expect(stat(keep + "/hosts/10.0.12.46/many/d0/f7", &first) == 0 && stat(keep + "/hosts/10.0.12.46/many/d5/l7", &second) == 0)
        #expect(first.st_ino == second.st_ino && first.st_nlink == 2)
    }

    /// More keeps at once than Swift has shared threads, each blocked on its first file until
    /// all are: possible only if each copy runs on a thread of its own.
    @Test func eachCopyRunsOnAThreadOfItsOwn() async throws {
        final class Barrier: Sendable {
            let arrived = Mutex(0)
            let open = DispatchSemaphore(value: 0)
            let threads = Mutex<[String]>([])
            func arriveAndWait(parties: Int) -> Bool {
                // The kernel's id of the calling thread.
                let stat = (try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8)) ?? ""
                threads.withLock { $0.append(String(stat.prefix { $0 != " " })) }
                let last = arrived.withLock { count -> Bool in
                    count += 1
                    return count == parties
                }
                if last { for _ in 0..<parties { open.signal() } }
                return open.wait(timeout: .now() + 20) == .success
            }
        }
        let parties = ProcessInfo.processInfo.activeProcessorCount + 1
        let barrier = Barrier()
        var worlds: [World] = []
        for _ in 0..<parties { worlds.append(try await makeWorld(scenario)) }
        let results = await withTaskGroup(of: (World.Kept, Bool).self) { group in
            for world in worlds {
                group.addTask {
                    let keep = temporaryDirectory()
                    try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
                    guard let destination = try? Descriptor.directory(at: keep) else { return (World.Kept(), false) }
                    let first = Mutex<Bool?>(nil)
                    let kept = await world.keep(into: destination) {
                        if first.withLock({ $0 == nil }) {
                            let met = barrier.arriveAndWait(parties: parties)
                            first.withLock { $0 = met }
                        }
                    }
                    return (kept, first.withLock { $0 } ?? false)
                }
            }
            var all: [(World.Kept, Bool)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == parties)
        for (kept, met) in results {
            #expect(met, "a copy waited for a thread")
            #expect(kept.problems.isEmpty && kept.files > 0, "\(kept)")
        }
        #expect(Set(barrier.threads.withLock { $0 }).count == parties)
    }

    /// The copy holds the agent's symlinks. A later name of a file is linked to its first copy
    /// found beneath the destination without following any symlink: with the first copy's
    /// directory swapped for a symlink out, the link is refused and nothing outside is touched.
    @Test func aHardLinkIsNeverMadeThroughASymlinkOfTheCopy() async throws {
        let root = temporaryDirectory()
        let host = root + "/hosts/h1"
        try FileManager.default.createDirectory(atPath: host + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: host + "/b", withIntermediateDirectories: true)
        try "shared\n".write(toFile: host + "/a/x", atomically: false, encoding: .utf8)
        #expect(link(host + "/a/x", host + "/b/y") == 0)
        let world = try World.left(at: try Descriptor.directory(at: root), rights: agentRights, sizeLimit: 1 << 20)
        let keep = temporaryDirectory()
        let outside = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "outside\n".write(toFile: outside + "/x", atomically: false, encoding: .utf8)
        let calls = Mutex(0)
        let kept = await world.keep(into: try Descriptor.directory(at: keep)) {
            // Before b/y: a/x is kept; its directory becomes a symlink to a directory outside.
            guard calls.withLock({ $0 += 1; return $0 }) == 2 else { return }
            try? FileManager.default.moveItem(atPath: keep + "/hosts/h1/a", toPath: keep + "/hosts/h1/a-moved")
            try? FileManager.default.createSymbolicLink(atPath: keep + "/hosts/h1/a", withDestinationPath: outside)
        }
        #expect(kept.files == 1)
        #expect(kept.problems.contains { $0.hasPrefix("h1/b/y:") && $0.contains("ELOOP") }, "\(kept.problems)")
        var info = stat()
        #expect(stat(outside + "/x", &info) == 0 && info.st_nlink == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["x"])
        #expect(!FileManager.default.fileExists(atPath: keep + "/hosts/h1/b/y"))
    }
}
