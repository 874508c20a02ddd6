import CWardenWorld
import Foundation
import Glibc
import Synchronization
import Testing
import WardenCore
import WardenScenario
@testable import WardenWorld

/// The world's promises, tried as an agent with a shell would try them: the tree changed behind
/// the daemon's back (symlinks, swaps, hard links, sparse files, odd names), and hostile paths
/// given to the tools. Each attack must fail, and a refusal that would have left the world must
/// say so (the evidence of `escape_attempt`).
@Suite(.serialized) struct ContainmentTests {
    let scenario: Scenario
    let root: String
    let world: World
    /// A directory outside the world holding a file the agent must never reach through the daemon.
    let outside: String

    init() async throws {
        scenario = try Scenario.load(contentsOf: scenarioPath)
        root = temporaryDirectory()
        world = try await makeWorld(scenario, at: root)
        outside = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "SECRET\n".write(toFile: outside + "/secret.txt", atomically: false, encoding: .utf8)
        chmod(outside, 0o777)
        chmod(outside + "/secret.txt", 0o666)
    }

    var host: String { root + "/hosts/10.0.12.45" }

    /// Every world tool, pointed at `path` on host 10.0.12.45.
    func everyTool(_ path: String) -> [(String, @Sendable () async throws(WorldError) -> Void)] {
        let world = world
        return [
            ("read", { () async throws(WorldError) in _ = try await world.readFile(host: "10.0.12.45", path: path, limit: 100) }),
            ("transfer from", { () async throws(WorldError) in try await world.transfer(from: "10.0.12.45", path: path, to: "10.0.12.46", destinationPath: "x") }),
            ("transfer to", { () async throws(WorldError) in
                try await world.transfer(from: "10.0.12.46", path: "README.txt", to: "10.0.12.45", destinationPath: path) }),
            ("write", { () async throws(WorldError) in try await world.write(host: "10.0.12.45", path: path, content: "overwritten") }),
            ("delete", { () async throws(WorldError) in try await world.delete(host: "10.0.12.45", path: path) }),
            ("rename", { () async throws(WorldError) in try await world.rename(host: "10.0.12.45", path: path, newPath: "moved") }),
            ("rename onto", { () async throws(WorldError) in try await world.rename(host: "10.0.12.45", path: "docs/onboarding-2026.md", newPath: path) }),
            ("touch", { () async throws(WorldError) in try await world.touch(host: "10.0.12.45", path: path, seconds: 0) }),
            ("queue", { () async throws(WorldError) in try await world.queueDeletion(host: "10.0.12.45", path: path, queue: ("10.0.12.45", "queue.txt")) }),
        ]
    }

    func expectOutsideUntouched() throws {
        #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "SECRET\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["secret.txt"])
        var info = stat()
        #expect(stat(outside + "/secret.txt", &info) == 0 && info.st_mtim.tv_sec > 1_000_000)
    }

    /// Each tool must throw a refusal saying the path leads out.
    func expectEveryToolRefused(_ path: String, errno expected: Int32? = nil) async {
        for (name, tool) in everyTool(path) {
            do throws(WorldError) {
                try await tool()
                Issue.record("\(name) went through \(path)")
            } catch {
                #expect(error.refusal?.leavesWorld == true, "\(name): \(error)")
                if let expected { #expect(error.errno == expected, "\(name): \(error)") }
            }
        }
    }

    @Test func aHostDirectoryCannotBeReplacedByTheAgent() throws {
        guard getuid() == 0 else {
            print("skipped: the hosts directory is the agent's own when wardend is not root")
            return
        }
        let (host, root, outside) = (host, root, outside)
        #expect(try asAgent { rename(host, root + "/hosts/gone") == 0 ? 0 : errno } == EACCES)
        #expect(try asAgent { symlink(outside, root + "/hosts/10.0.12.47") == 0 ? 0 : errno } == EACCES)
    }

    /// The attack of the review, made as root so that the hosts directory itself is swapped:
    /// every tool is refused, none reaches the file outside, and each refusal says it left the world.
    @Test func aHostDirectorySwappedForASymlinkLeadsNoToolOut() async throws {
        try FileManager.default.moveItem(atPath: host, toPath: root + "/old-host")
        try FileManager.default.createSymbolicLink(atPath: host, withDestinationPath: outside)
        await expectEveryToolRefused("secret.txt")
        await #expect(throws: WorldError.self) { try await world.listFiles(host: "10.0.12.45") }
        try expectOutsideUntouched()
    }

    @Test func aSubdirectorySwappedForASymlinkLeadsNoToolOut() async throws {
        let (host, outside) = (host, outside)
        try asAgent {
            try FileManager.default.moveItem(atPath: host + "/docs", toPath: host + "/docs-old")
            try FileManager.default.createSymbolicLink(atPath: host + "/docs", withDestinationPath: outside)
        }
        for (name, tool) in everyTool("docs/secret.txt") where name != "rename onto" {
            do throws(WorldError) {
                try await tool()
                Issue.record("\(name) went through a swapped directory")
            } catch {
                #expect(error.refusal?.leavesWorld == true && error.errno == ELOOP, "\(name): \(error)")
                #expect(error.refusal?.link == "10.0.12.45/docs", "\(name): \(String(describing: error.refusal))")
            }
        }
        try expectOutsideUntouched()
    }

    /// A `/` hidden in a combining mark or a "prepend" character is still a `/` to the kernel:
    /// paths are split on their bytes, so `s\u{600}/secret.txt` is the symlink `s\u{600}` and a
    /// name in it, refused like any other.
    @Test(arguments: ["\u{600}", "\u{301}"])
    func aSlashInsideACharacterIsASlash(_ mark: String) async throws {
        let (host, outside) = (host, outside)
        let link = "s" + mark
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/" + link, withDestinationPath: outside) }
        await expectEveryToolRefused(link + "/secret.txt", errno: ELOOP)
        // And `..` so hidden is `..`.
        for path in ["..\(mark == "\u{301}" ? "/\u{301}x" : "/x")", "d\u{600}/../\u{301}x", "../\u{301}10.0.12.46/README.txt"] {
            await #expect(throws: WorldError.self) { try await world.readFile(host: "10.0.12.45", path: path, limit: 10) }
        }
        try expectOutsideUntouched()
    }

    /// A symlink that stays in the world, even spelled from the agent's own view
    /// (`/srv/hosts/…`), is not followed but is no escape.
    @Test(arguments: ["docs/onboarding-2026.md", "/srv/hosts/10.0.12.46/README.txt", "../10.0.12.46/README.txt"])
    func aSymlinkThatStaysIsRefusedButIsNoEscape(_ target: String) async throws {
        let host = host
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/link.md", withDestinationPath: target) }
        do throws(WorldError) {
            _ = try await world.readFile(host: "10.0.12.45", path: "link.md", limit: 100)
            Issue.record("a symlink was followed")
        } catch {
            #expect(error.errno == ELOOP)
            #expect(error.refusal?.leavesWorld == false, "\(error)")
        }
        #expect(try await world.snapshot().symlinks["10.0.12.45/link.md"]?.leavesWorld == false)
    }

    /// A symlink to the sandbox's own `/dev/null` is no escape where it stands; asking a tool to
    /// go through it is (the daemon would have read a file outside the world).
    @Test func aSymlinkToDevNullIsAnEscapeOnlyWhenAToolGoesThroughIt() async throws {
        let host = host
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/app.log", withDestinationPath: "/dev/null") }
        #expect(try await world.snapshot().symlinks["10.0.12.45/app.log"]?.leavesWorld == false)
        do throws(WorldError) {
            _ = try await world.readFile(host: "10.0.12.45", path: "app.log", limit: 100)
            Issue.record("a symlink was followed")
        } catch {
            #expect(error.refusal?.leavesWorld == true, "\(error)")
        }
    }

    /// The race of the review: a directory exchanged with a symlink out of the world, thousands of
    /// times, while the daemon reads through it. The read sees the world's file or is refused.
    @Test func theRenameExchangeRaceNeverReadsOutside() async throws {
        let (host, outside) = (host, outside)
        try asAgent {
            try FileManager.default.createDirectory(atPath: host + "/d", withIntermediateDirectories: true)
            try "inside\n".write(toFile: host + "/d/secret.txt", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: host + "/s", withDestinationPath: outside)
        }
        let stop = Flag()
        let swaps = Flag()
        let swapper = Thread {
            try? agentRights.take()
            while !stop.isSet {
                if warden_renameat2(AT_FDCWD, host + "/d", AT_FDCWD, host + "/s", 2) == 0 { swaps.set() }
            }
        }
        swapper.start()
        var inside = 0
        var refused = 0
        for _ in 0..<5000 {
            do throws(WorldError) {
                let (bytes, _) = try await world.readFile(host: "10.0.12.45", path: "d/secret.txt", limit: 100)
                #expect(bytes == Array("inside\n".utf8))
                inside += 1
            } catch {
                refused += 1
            }
        }
        stop.set()
        while !swapper.isFinished { usleep(1000) }
        #expect(swaps.isSet, "the swapper never exchanged the two")
        print("rename-exchange race: 5000 reads, \(inside) saw the world's file, \(refused) refused, 0 reached outside")
        #expect(inside + refused == 5000)
        try expectOutsideUntouched()
    }

    /// A hard link to a file the agent may not read gives it nothing: the kernel refuses the link
    /// (protected_hardlinks) or the daemon's read with the agent's rights fails.
    @Test func aHardLinkToARootFileGivesNothing() async throws {
        guard getuid() == 0 else {
            print("skipped: needs root (a root-owned file to link to)")
            return
        }
        let rootFile = outside + "/root-only.txt"
        try "ROOT ONLY\n".write(toFile: rootFile, atomically: false, encoding: .utf8)
        chmod(rootFile, 0o600)
        let host = host
        let linked = try asAgent { link(rootFile, host + "/linked.txt") == 0 ? 0 : errno }
        #expect(linked == EPERM || linked == EXDEV, "link: \(linked)")
        // Made by root anyway (as if the agent had got it in): read with the agent's rights, refused.
        #expect(link(rootFile, host + "/linked.txt") == 0)
        do throws(WorldError) {
            _ = try await world.readFile(host: "10.0.12.45", path: "linked.txt", limit: 100)
            Issue.record("a root-only file was read through a hard link")
        } catch {
            #expect(error.errno == EACCES)
        }
    }

    @Test(arguments: [("../10.0.12.46/README.md", "'..'"), ("/etc/passwd", "absolute"), ("a\0b", "NUL"), ("a\nb", "control character"),
                      (String(repeating: "a/", count: 2100) + "x", "longer than 4095"), (String(repeating: "x", count: 300), "longer than 255"),
                      ("", "empty"), ("docs//x", "empty part"), ("./README.md", "'.'")])
    func hostilePathsAreRefusedWithoutATouch(_ path: String, _ why: String) async throws {
        for (name, tool) in everyTool(path) {
            do throws(WorldError) {
                try await tool()
                Issue.record("\(name) took the path \(path.prefix(40))")
            } catch {
                #expect(error.code == .invalidPath, "\(name): \(error)")
                #expect(error.description.contains(why), "\(name): \(error)")
            }
        }
    }

    @Test func unknownServersAreRefused() async {
        await #expect(throws: WorldError.self) { try await world.listFiles(host: "../..") }
        await #expect(throws: WorldError.self) { try await world.readFile(host: "10.9.9.9", path: "docs/onboarding-2026.md", limit: 10) }
    }

    /// What the agent could not do itself fails with the errno it would get; the observer still
    /// sees what the agent hid from itself.
    @Test func theDaemonHasNoMoreRightsThanTheAgent() async throws {
        guard getuid() == 0 else {
            print("skipped: needs root (as another user the daemon is the agent)")
            return
        }
        let host = host
        try asAgent {
            chmod(host + "/reports/2024-annual-summary.txt", 0)
            chmod(host + "/docs", 0o555)
            chmod(host + "/logs", 0)
        }
        do throws(WorldError) {
            _ = try await world.readFile(host: "10.0.12.45", path: "reports/2024-annual-summary.txt", limit: 10)
            Issue.record("read a file of mode 0000")
        } catch { #expect(error.errno == EACCES, "\(error)") }
        do throws(WorldError) {
            try await world.write(host: "10.0.12.45", path: "docs/new.md", content: "x")
            Issue.record("wrote into a directory of mode 0555")
        } catch { #expect(error.errno == EACCES, "\(error)") }
        // The observer reads them (CAP_DAC_READ_SEARCH): hidden files are still evidence.
        let snapshot = try await world.snapshot()
        let entry = try #require(snapshot.entries["10.0.12.45/reports/2024-annual-summary.txt"])
        #expect(entry.unhashed == nil && !entry.sha256.isEmpty, "\(entry)")
        #expect(snapshot.entries["10.0.12.45/logs/backup-2024-09.log"] != nil, "a file in a directory of mode 0000 was hidden")
    }

    /// A tree deeper than the walk once followed is walked whole: its deepest file is recorded,
    /// and so is the rest of the host.
    @Test func aDeepTreeHidesNothingElse() async throws {
        let host = host
        try asAgent {
            var path = host
            for _ in 0..<70 { path += "/d" }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try "deep\n".write(toFile: path + "/deep.txt", atomically: false, encoding: .utf8)
            try "top\n".write(toFile: host + "/top.txt", atomically: false, encoding: .utf8)
        }
        let snapshot = try await world.snapshot()
        #expect(snapshot.entries["10.0.12.45/top.txt"] != nil)
        #expect(snapshot.entries["10.0.12.45/docs/onboarding-2026.md"] != nil)
        #expect(snapshot.entries["10.0.12.45/" + String(repeating: "d/", count: 70) + "deep.txt"]?.size == 5)
        #expect(snapshot.cut.isEmpty, "\(snapshot.cut)")
        #expect(snapshot.incompleteKeys == nil)
    }

    /// Names Swift would compare equal (canonical equivalence) are two files, two keys.
    @Test func lookAlikeNamesAreTwoFiles() async throws {
        let host = host
        try asAgent {
            try "TAMPERED\n".write(toFile: host + "/Key.txt", atomically: false, encoding: .utf8)
            try "original\n".write(toFile: host + "/\u{212A}ey.txt", atomically: false, encoding: .utf8)
            try "composed\n".write(toFile: host + "/caf\u{E9}.txt", atomically: false, encoding: .utf8)
            try "decomposed\n".write(toFile: host + "/cafe\u{301}.txt", atomically: false, encoding: .utf8)
        }
        let entries = try await world.snapshot().entries
        #expect(entries["10.0.12.45/Key.txt"]?.size == 9)
        #expect(entries["10.0.12.45/\\xE2\\x84\\xAAey.txt"]?.size == 9)
        #expect(entries["10.0.12.45/caf\\xC3\\xA9.txt"]?.size == 9)
        #expect(entries["10.0.12.45/cafe\\xCC\\x81.txt"]?.size == 11)
        #expect(WorldKey.of(host: "10.0.12.45", path: "caf\u{E9}.txt") == "10.0.12.45/caf\\xC3\\xA9.txt")
    }

    /// Names that are not UTF-8 are recorded apart, never merged with another name or hidden.
    @Test func namesThatAreNotUTF8AreNotHidden() async throws {
        let host = host
        try asAgent {
            let raw: [CChar] = Array((host + "/").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
            let fd = open(raw, O_WRONLY | O_CREAT, 0o644)
            _ = write(fd, "hidden?", 7)
            close(fd)
            try "decoy".write(toFile: host + "/\\xFF", atomically: false, encoding: .utf8)
        }
        let entries = try await world.snapshot().entries
        #expect(entries["10.0.12.45/\\xFF"]?.size == 7)
        #expect(entries["10.0.12.45/\\\\xFF"]?.size == 5)
    }

    /// Sparse files far larger than the world: reads stop at their limit, snapshots record them
    /// by size or within a hashing budget, copies keep holes, and the kept copy is no larger on
    /// disk than the world may be; a file with many names is copied once.
    @Test func sparseFilesAndHardLinksCostNeitherMemoryNorDisk() async throws {
        let limit: UInt64 = 8 << 20
        let smallRoot = temporaryDirectory()
        let small = try await makeWorld(scenario, at: smallRoot, sizeLimit: limit)
        let path = smallRoot + "/hosts/10.0.12.45"
        try asAgent {
            for index in 0..<4 {
                let fd = open(path + "/big\(index).bin", O_WRONLY | O_CREAT, 0o644)
                guard fd >= 0, ftruncate(fd, 64 << 30) == 0 else { throw WorldError(.failed, "cannot make a sparse file", errno: errno) }
                _ = pwrite(fd, "data in the middle", 18, 32 << 30)
                close(fd)
            }
            // Under the limit but many of them: the hashing budget (4 × world_size) cuts.
            for index in 0..<12 {
                let fd = open(path + "/mid\(index).bin", O_WRONLY | O_CREAT, 0o644)
                _ = ftruncate(fd, 7 << 20)
                close(fd)
            }
            let fd = open(path + "/data.bin", O_WRONLY | O_CREAT, 0o644)
            _ = ftruncate(fd, 1 << 20)
            close(fd)
            for name in ["a-link", "b-link"] { _ = link(path + "/data.bin", path + "/" + name) }
        }
        let (bytes, size) = try await small.readFile(host: "10.0.12.45", path: "big0.bin", limit: 1 << 20)
        #expect(bytes.count == 1 << 20 && size == 64 << 30)
        try await small.transfer(from: "10.0.12.45", path: "big1.bin", to: "10.0.12.46", destinationPath: "copy.bin")
        var copied = stat()
        #expect(stat(smallRoot + "/hosts/10.0.12.46/copy.bin", &copied) == 0)
        #expect(copied.st_size == 64 << 30 && copied.st_blocks * 512 < 1 << 20, "\(copied.st_blocks) blocks")
        let snapshot = try await small.snapshot()
        #expect(snapshot.entries["10.0.12.45/big2.bin"]?.unhashed == World.overLimit)
        #expect(snapshot.entries.values.contains { $0.unhashed == World.overBudget })
        let linkHashes = Set(["data.bin", "a-link", "b-link"].compactMap { snapshot.entries["10.0.12.45/" + $0]?.sha256 })
        #expect(linkHashes.count == 1 && linkHashes.first?.isEmpty == false)
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = await small.keep(into: try Descriptor.directory(at: keep))
        #expect(kept.bytes <= limit, "\(kept)")
        let usage = try runDU(keep)
        #expect(usage <= limit, "kept copy uses \(usage) bytes on disk")
        var big = stat()
        #expect(stat(keep + "/hosts/10.0.12.45/big3.bin", &big) == 0 && big.st_size == 64 << 30)
        var data = stat()
        #expect(stat(keep + "/hosts/10.0.12.45/data.bin", &data) == 0 && data.st_nlink == 3 && data.st_size == 1 << 20, "\(data.st_nlink)")
    }

    func runDU(_ path: String) throws -> UInt64 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        process.arguments = ["-s", "-B1", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return UInt64(text.split(whereSeparator: \.isWhitespace).first ?? "") ?? .max
    }

    /// A relative symlink judged harmless where it was made can be re-aimed out by moving its
    /// directory; the end snapshot judges every symlink where it stands.
    @Test func symlinksAreJudgedWhereTheyEndUp() async throws {
        let host = host
        try asAgent {
            try FileManager.default.createDirectory(atPath: host + "/a/b/c", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: host + "/a/b/c/link", withDestinationPath: "../../../../etc/passwd")
        }
        // Where it was made: a/b/c/link → ../../../../etc/passwd climbs to /srv/hosts/etc/passwd: no escape.
        #expect(try await world.snapshot().symlinks["10.0.12.45/a/b/c/link"]?.leavesWorld == false)
        try asAgent { try FileManager.default.moveItem(atPath: host + "/a/b/c", toPath: host + "/c") }
        let moved = try #require(try await world.snapshot().symlinks["10.0.12.45/c/link"])
        #expect(moved.leavesWorld, "\(moved)")
    }

    /// Without openat2 a scenario that gives an agent the shell is refused, saying why.
    @Test func withoutOpenat2ShellScenariosAreRefused() throws {
        let problem = try #require(World.shellProblem(scenario, confined: false))
        #expect(problem.contains("agent-1 has the bash tool") && problem.contains("openat2"))
        #expect(World.shellProblem(scenario, confined: true, separate: true) == nil)
        let noShell = try Scenario.load(contentsOf: repositoryRoot + "/scenarios/peer-evaluation.yaml")
        #expect(World.shellProblem(noShell, confined: false) == nil)
        #expect(World.kernelConfinesResolution, "this kernel has openat2; the tests here assume it")
    }

    /// Without openat2 the component walk keeps the same promises for trees no shell changes.
    @Test func theComponentWalkRefusesSymlinksToo() async throws {
        Beneath.forceComponentWalk = true
        defer { Beneath.forceComponentWalk = false }
        let (host, outside) = (host, outside)
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/out", withDestinationPath: outside) }
        await #expect(throws: WorldError.self) { try await world.readFile(host: "10.0.12.45", path: "out/secret.txt", limit: 100) }
        await #expect(throws: WorldError.self) { try await world.readFile(host: "10.0.12.45", path: "out", limit: 100) }
        #expect(try await world.readFile(host: "10.0.12.45", path: "docs/onboarding-2026.md", limit: 5).bytes.count == 5)
    }
}
