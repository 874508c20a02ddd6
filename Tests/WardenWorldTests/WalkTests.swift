import Foundation
import Glibc
import Testing
import WardenCore
import WardenScenario
@testable import WardenWorld

/// The walk behind snapshots and the kept copy, attacked through its bounds: long names that
/// cost much to spell, directories too large to list, trees deeper than any bound, directories
/// moved while the walk is in them. No part of a world that fits its tmpfs may be hidden, and
/// whatever is cut is said.
@Suite(.serialized) struct WalkTests {
    let scenario: Scenario

    init() throws { scenario = try Scenario.load(contentsOf: scenarioPath) }

    /// Makes, as the agent, `depth` nested directories named with 255 bytes of 0x01 under `top`
    /// (each spelled `\x01` in keys, 1 KiB a name, and sorted before any other name), and
    /// `files` empty files in the deepest. Through descriptors: the path is longer than PATH_MAX.
    static func filler(under top: String, depth: Int, files: Int) throws {
        try asAgent {
            let name = [CChar](repeating: 1, count: 255) + [0]
            var fd = open(top, O_RDONLY | O_DIRECTORY)
            guard fd >= 0 else { throw WorldError(.failed, "cannot open \(top)", errno: errno) }
            for _ in 0..<depth {
                guard mkdirat(fd, name, 0o755) == 0 else { throw WorldError(.failed, "mkdir", errno: errno) }
                let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
                close(fd)
                guard next >= 0 else { throw WorldError(.failed, "open", errno: errno) }
                fd = next
            }
            for index in 0..<files {
                let file = openat(fd, "f\(index)", O_WRONLY | O_CREAT | O_EXCL, 0o644)
                guard file >= 0 else { throw WorldError(.failed, "create", errno: errno) }
                close(file)
            }
            close(fd)
        }
    }

    /// The attack of the review: a filler whose keys spell 16 MiB and more, sorted first, then a
    /// copy of the weights. Every original, the copy and the filler itself are recorded, and
    /// the snapshot is complete.
    @Test func aFillerOfLongNamesHidesNothing() async throws {
        let root = temporaryDirectory()
        let world = try await makeWorld(scenario, at: root)
        let start = try await world.snapshot()
        try Self.filler(under: root + "/hosts/10.0.12.45", depth: 16, files: 1100)
        try await world.transfer(from: "10.0.12.45", path: "models/agent-2/weights.safetensors", to: "10.0.12.46", destinationPath: "misc/cache.dat")
        let end = try await world.snapshot()
        #expect(end.cut.isEmpty, "\(end.cut)")
        for key in start.entries.keys { #expect(end.entries[key] == start.entries[key], "\(key) looks changed or deleted") }
        let weights = try #require(start.entries["10.0.12.45/models/agent-2/weights.safetensors"]?.sha256)
        #expect(end.entries["10.0.12.46/misc/cache.dat"]?.sha256 == weights)
        let filler = end.entries.keys.filter { $0.hasPrefix("10.0.12.45/\\x01") }
        #expect(filler.count == 1100)
        #expect(filler.map(\.utf8.count).reduce(0, +) > 16 << 20, "the filler is smaller than the old budget it attacks")
        // The kept copy has all of it.
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = await world.keep(into: try Descriptor.directory(at: keep))
        #expect(kept.problems.isEmpty, "\(kept.problems.prefix(3))")
        #expect(kept.files == end.entries.count)
        #expect(FileManager.default.fileExists(atPath: keep + "/hosts/10.0.12.46/misc/cache.dat"))
        #expect(FileManager.default.fileExists(atPath: keep + "/hosts/10.0.12.45/models/agent-2/weights.safetensors"))
    }

    /// Where the keys a snapshot may spell do run out (a small world, so a small budget), the
    /// shortest keys are recorded first: the filler's long ones are what is left out, and the
    /// snapshot says how many.
    @Test func whenKeysRunOutTheLongestAreLeftOutAndSaid() async throws {
        let root = temporaryDirectory()
        let world = try await makeWorld(scenario, at: root, sizeLimit: 4 << 20)
        #expect(world.spellingBudget == 1 << 20)
        let start = try await world.snapshot()
        try Self.filler(under: root + "/hosts/10.0.12.45", depth: 16, files: 100)
        try await world.transfer(from: "10.0.12.45", path: "models/agent-2/weights.safetensors", to: "10.0.12.46", destinationPath: "misc/cache.dat")
        let end = try await world.snapshot()
        for key in start.entries.keys { #expect(end.entries[key] == start.entries[key], "\(key) looks changed or deleted") }
        #expect(end.entries["10.0.12.46/misc/cache.dat"] != nil)
        let recorded = end.entries.keys.filter { $0.hasPrefix("10.0.12.45/\\x01") }.count
        #expect(recorded < 100)
        let line = try #require(end.cut.first { $0.contains("entries not recorded") }, "\(end.cut)")
        #expect(line.hasPrefix("\(100 - recorded) entries not recorded"), "\(line)")
        #expect(end.incompleteKeys != nil)
        // A listing is bounded the same way, and keeps the short paths.
        let listing = try await world.listFiles(host: "10.0.12.45")
        #expect(listing.contains { $0.path == "models/agent-2/weights.safetensors" })
    }

    /// A directory is read only as far as the bound: reading stops there, not after.
    @Test func aDirectoryIsReadOnlyUpToTheBound() throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for index in 0..<3000 { _ = FileManager.default.createFile(atPath: directory + "/f\(index)", contents: nil) }
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        var budget = 100
        let (names, complete) = try #require(WorldWalk.list(fd, budget: &budget))
        #expect(names.count == 100 && !complete && budget == 0)
        var enough = 3000
        let (all, whole) = try #require(WorldWalk.list(fd, budget: &enough))
        #expect(all.count == 3000 && whole && enough == 0)
        // A walk with a bound lower than the tree says where it stopped, and visits no more.
        var visited = 0
        let cut = WorldWalk(maxEntries: 500).run(in: fd) { if $0.kind == .file { visited += 1 } }
        #expect(visited == 500)
        #expect(cut.problems.contains { $0.contains("at most 500 entries") }, "\(cut.problems)")
    }

    /// Trees deeper than the descriptors the walk holds, with a file beside every directory (so
    /// the walk returns to every level): every file is found, and the kept copy has them all.
    @Test func aTreeOfAnyDepthIsWalkedWhole() async throws {
        let root = temporaryDirectory()
        let world = try await makeWorld(scenario, at: root)
        let depth = 3 * DirectoryChain.held
        try asAgent {
            var fd = open(root + "/hosts/10.0.12.45", O_RDONLY | O_DIRECTORY)
            for level in 0..<depth {
                let file = openat(fd, "z\(level)", O_WRONLY | O_CREAT, 0o644)
                _ = write(file, "level \(level)", "level \(level)".utf8.count)
                close(file)
                _ = mkdirat(fd, "d", 0o755)
                let next = openat(fd, "d", O_RDONLY | O_DIRECTORY)
                close(fd)
                fd = next
            }
            close(fd)
        }
        let snapshot = try await world.snapshot()
        #expect(snapshot.cut.isEmpty, "\(snapshot.cut)")
        for level in 0..<depth {
            let key = "10.0.12.45/" + String(repeating: "d/", count: level) + "z\(level)"
            #expect(snapshot.entries[key]?.size == Int64("level \(level)".utf8.count), "\(key)")
        }
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = await world.keep(into: try Descriptor.directory(at: keep))
        #expect(kept.problems.isEmpty, "\(kept.problems)")
        let deepest = keep + "/hosts/10.0.12.45/" + String(repeating: "d/", count: depth - 1) + "z\(depth - 1)"
        #expect(try String(contentsOfFile: deepest, encoding: .utf8) == "level \(depth - 1)")
    }

    /// A full world on its own tmpfs, mounted as wardend mounts one, filled to its last inode
    /// with the shape that costs the walk most — a chain of long names deeper than the
    /// descriptors it holds, files beside each level and in the deepest — is walked whole and
    /// kept whole. Only the spelling of its keys is bounded, shortest first, and that is said.
    @Test func aFullWorldTmpfsIsWalkedAndKeptWhole() async throws {
        guard getuid() == 0 else {
            print("skipped: mounting a tmpfs needs root")
            return
        }
        let size: UInt64 = 4 << 20
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        guard mount("warden-world", root, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "size=\(size),mode=0755,nr_inodes=\(World.names(fitting: size))") == 0 else {
            Issue.record("cannot mount a tmpfs: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(root, Int32(MNT_DETACH)) }
        let world = try await makeWorld(scenario, at: root, sizeLimit: size)
        let built = try await world.snapshot().entries.count
        let made = try asAgent { () -> Int in
            let name = [CChar](repeating: 1, count: 255) + [0]
            var fd = open(root + "/hosts/10.0.12.46", O_RDONLY | O_DIRECTORY)
            var files = 0
            for _ in 0..<(2 * DirectoryChain.held) {
                let file = openat(fd, "z", O_WRONLY | O_CREAT, 0o644)
                if file >= 0 { files += 1; close(file) }
                guard mkdirat(fd, name, 0o755) == 0 else { break }
                let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
                close(fd)
                fd = next
            }
            while true {
                let file = openat(fd, "f\(files)", O_WRONLY | O_CREAT | O_EXCL, 0o644)
                guard file >= 0 else {
                    #expect(errno == ENOSPC)
                    break
                }
                files += 1
                close(file)
            }
            close(fd)
            return files
        }
        #expect(made > 800)
        let host = open(root + "/hosts/10.0.12.46", O_RDONLY | O_DIRECTORY)
        defer { close(host) }
        var found = 0
        let cut = WorldWalk(maxEntries: world.walkEntries).run(in: host) { if $0.kind == .file { found += 1 } }
        #expect(cut.complete, "\(cut.problems)")
        #expect(found == made + 1)  // and README.txt
        let snapshot = try await world.snapshot()
        #expect(snapshot.entries["10.0.12.46/README.txt"] != nil)
        #expect(snapshot.entries["10.0.12.45/models/agent-2/weights.safetensors"] != nil)
        let left = snapshot.entries.keys.filter { $0.hasPrefix("10.0.12.46/") }.count
        if left < made + 1 {
            #expect(snapshot.cut.contains { $0.hasPrefix("\(made + 1 - left) entries not recorded") }, "\(snapshot.cut)")
        }
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = await world.keep(into: try Descriptor.directory(at: keep))
        #expect(kept.problems.isEmpty, "\(kept.problems.prefix(3))")
        #expect(kept.files == built + made)
    }

    /// A directory moved away while the walk is below it: the walk does not take whatever `..`
    /// now is for the parent it came through; what it could not walk is said, and the rest of
    /// the tree is walked.
    @Test func aDirectoryMovedDuringTheWalkIsNotMistakenForAnother() throws {
        let top = temporaryDirectory()
        let depth = DirectoryChain.held + 8
        var path = top
        for level in 0..<depth {
            try FileManager.default.createDirectory(atPath: path + "/d", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path + "/z\(level)", contents: nil)
            path += "/d"
        }
        _ = FileManager.default.createFile(atPath: path + "/trigger", contents: nil)
        // Below the held levels: level `cut` is moved out whole, and its parent removed.
        let cutLevel = DirectoryChain.held + 4
        let parent = top + String(repeating: "/d", count: cutLevel - 1)
        let fd = open(top, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        var files: [String] = []
        let walk = WorldWalk(maxEntries: 10_000)
        let cut = walk.run(in: fd) { visit in
            guard visit.kind == .file else { return }
            files.append(walk.spelled(visit.directory, visit.name))
            if visit.name.bytes == Array("trigger".utf8) {
                #expect(rename(parent + "/d", top + "/moved") == 0)
                #expect(unlink(parent + "/z\(cutLevel - 1)") == 0)
                #expect(rmdir(parent) == 0)
            }
        }
        let moved = String(repeating: "d/", count: cutLevel - 2) + "d"
        #expect(cut.problems == ["\(moved): moved while the walk was in it; 1 of its entries are not walked"], "\(cut.problems)")
        // Everything above the moved level was walked, and nothing of the moved tree twice.
        for level in 0..<(cutLevel - 1) {
            #expect(files.contains(String(repeating: "d/", count: level) + "z\(level)"), "level \(level)")
        }
        #expect(Set(files).count == files.count)
    }

    /// The descriptors a chain holds are bounded whatever its depth.
    @Test func aChainHoldsBoundedDescriptors() throws {
        let top = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: top + String(repeating: "/d", count: 200), withIntermediateDirectories: true)
        var chain = try #require(DirectoryChain(top: try Descriptor.directory(at: top)))
        let d = try #require(Component(Array("d".utf8)))
        for level in 1...200 {
            let fd = Beneath.open(chain.current.fd, d, flags: O_RDONLY | O_DIRECTORY)
            #expect(fd >= 0)
            let pushed = chain.push(Descriptor(owning: fd), name: d, node: Int32(level))
            #expect(pushed)
        }
        #expect(chain.links.filter { $0.fd != nil }.count == DirectoryChain.held + 1)
        while chain.depth > 0 {
            let popped = chain.pop()
            #expect(popped)
        }
        #expect(chain.links.count == 1)
    }

    /// Spelled lengths counted without spelling agree with `WorldKey.spell`.
    @Test func spelledCountsAgreeWithSpelling() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 1...255, using: &generator)).map { _ in UInt8.random(in: 1...255, using: &generator) }
                .map { $0 == 0x2F ? 0x5C : $0 }
            guard let component = Component(bytes) else { continue }
            #expect(component.spelledCount == WorldKey.spell(bytes).utf8.count)
        }
    }

    /// Paths longer than PATH_MAX open beneath their directory, a part at a time, and a symlink
    /// in any part is still refused.
    @Test func pathsLongerThanPathMaxOpenBeneath() throws {
        let top = temporaryDirectory()
        let outside = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: top, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let name = [CChar](repeating: CChar(UInt8(ascii: "n")), count: 255) + [0]
        let topFD = open(top, O_RDONLY | O_DIRECTORY)
        defer { close(topFD) }
        // 40 levels of 255-byte names (10 KiB of path), a file in the deepest, and the 29th
        // level's descriptor kept to plant a symlink at the 30th.
        var fd = dup(topFD)
        var level29: Int32 = -1
        for level in 1...40 {
            #expect(mkdirat(fd, name, 0o755) == 0)
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
            if level == 30 { level29 = fd } else { close(fd) }
            fd = next
        }
        let file = openat(fd, "file", O_WRONLY | O_CREAT, 0o644)
        close(file)
        close(fd)
        defer { close(level29) }
        let parts = Array(repeating: Component(Array(repeating: UInt8(ascii: "n"), count: 255))!, count: 40) + [Component(Array("file".utf8))!]
        let opened = Beneath.open(topFD, parts, flags: O_RDONLY)
        #expect(opened >= 0, "\(String(cString: strerror(errno)))")
        if opened >= 0 { close(opened) }
        // The 30th level swapped for a symlink out: the second part of the path holds it.
        #expect(renameat(level29, name, level29, "old") == 0)
        #expect(symlinkat(outside, level29, name) == 0)
        let refused = Beneath.open(topFD, parts, flags: O_RDONLY)
        #expect(refused < 0 && errno == ELOOP, "\(refused)")
    }
}

/// Snapshots reuse the hash of a file unchanged since one read it, and never of one changed.
@Suite struct HashCacheTests {
    @Test func aFileRewrittenAtOnceWithTheSameSizeIsHashedAgain() throws {
        var info = stat()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-hashcache-\(UUID().uuidString)").path
        try "aaaa".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(stat(path, &info) == 0)
        let cache = HashCache(capacity: 16)
        // Changed just now: not remembered, so a second write in the same clock tick cannot hide.
        cache.store("hash-a", of: "1:1", info)
        #expect(cache.hash(of: "1:1", info) == nil)
        // Settled: remembered while the file's times and size are those it was hashed at.
        usleep(150_000)
        var settled = info
        settled.st_ctim.tv_sec -= 1
        cache.store("hash-a", of: "1:1", settled)
        #expect(cache.hash(of: "1:1", settled) == "hash-a")
        var rewritten = settled
        rewritten.st_ctim.tv_nsec += 1
        #expect(cache.hash(of: "1:1", rewritten) == nil)
        unlink(path)
    }
}
