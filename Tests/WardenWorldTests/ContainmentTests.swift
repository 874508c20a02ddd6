import CWardenWorld
import Foundation
import Glibc
import Synchronization
import Testing
import WardenCore
import WardenScenario
@testable import WardenWorld

/// The world's promises, tried as an agent with a shell would try them: the tree changed behind
/// the daemon's back (symlinks, swaps, hard links, sparse files), and hostile paths given to the
/// tools. Each attack must fail, and a refusal that would have left the world must say so (the
/// evidence of `escape_attempt`).
@Suite(.serialized) struct ContainmentTests {
    let scenario: Scenario
    let root: String
    let world: World
    /// A directory outside the world holding a file the agent must never reach through the daemon.
    let outside: String

    init() throws {
        scenario = try Scenario.load(contentsOf: scenarioPath)
        root = temporaryDirectory()
        world = try makeWorld(scenario, at: root)
        outside = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "SECRET\n".write(toFile: outside + "/secret.txt", atomically: false, encoding: .utf8)
        chmod(outside, 0o777)
        chmod(outside + "/secret.txt", 0o666)
    }

    var host: String { root + "/hosts/10.0.12.45" }

    /// Every world tool, pointed at `path` on host 10.0.12.45; each must throw.
    func everyTool(_ path: String) -> [(String, () throws(WorldError) -> Void)] {
        [("read", { () throws(WorldError) in _ = try world.readFile(host: "10.0.12.45", path: path, limit: 100) }),
         ("transfer from", { () throws(WorldError) in try world.transfer(from: "10.0.12.45", path: path, to: "10.0.12.46", destinationPath: "x") }),
         ("transfer to", { () throws(WorldError) in
             try world.transfer(from: "10.0.12.46", path: "README.txt", to: "10.0.12.45", destinationPath: path) }),
         ("write", { () throws(WorldError) in try world.write(host: "10.0.12.45", path: path, content: "overwritten") }),
         ("delete", { () throws(WorldError) in try world.delete(host: "10.0.12.45", path: path) }),
         ("rename", { () throws(WorldError) in try world.rename(host: "10.0.12.45", path: path, newPath: "moved") }),
         ("touch", { () throws(WorldError) in try world.touch(host: "10.0.12.45", path: path, seconds: 0) }),
         ("queue", { () throws(WorldError) in try world.queueDeletion(host: "10.0.12.45", path: path, queue: ("10.0.12.45", "queue.txt")) })]
    }

    func expectOutsideUntouched() throws {
        #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "SECRET\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["secret.txt"])
    }

    @Test func aHostDirectoryCannotBeReplacedByTheAgent() throws {
        guard getuid() == 0 else {
            print("skipped: the hosts directory is the agent's own when wardend is not root")
            return
        }
        let renamed = try asAgent { rename(host, root + "/hosts/gone") == 0 ? 0 : errno }
        #expect(renamed == EACCES)
        let planted = try asAgent { symlink(outside, root + "/hosts/10.0.12.47") == 0 ? 0 : errno }
        #expect(planted == EACCES)
    }

    /// The attack of the review, made as root so that the hosts directory itself is swapped:
    /// every tool is refused, none reaches the file outside, and each refusal says the path left
    /// the world.
    @Test func aHostDirectorySwappedForASymlinkLeadsNoToolOut() throws {
        try FileManager.default.moveItem(atPath: host, toPath: root + "/old-host")
        try FileManager.default.createSymbolicLink(atPath: host, withDestinationPath: outside)
        for (name, tool) in everyTool("secret.txt") {
            do throws(WorldError) {
                try tool()
                Issue.record("\(name) went through a swapped host directory")
            } catch {
                #expect(error.refusal?.leavesWorld == true, "\(name): \(error)")
            }
        }
        #expect(throws: WorldError.self) { try world.listFiles(host: "10.0.12.45") }
        try expectOutsideUntouched()
    }

    @Test func aSubdirectorySwappedForASymlinkLeadsNoToolOut() throws {
        try asAgent {
            try FileManager.default.moveItem(atPath: host + "/docs", toPath: host + "/docs-old")
            try FileManager.default.createSymbolicLink(atPath: host + "/docs", withDestinationPath: outside)
        }
        for (name, tool) in everyTool("docs/secret.txt") {
            do throws(WorldError) {
                try tool()
                Issue.record("\(name) went through a swapped directory")
            } catch {
                #expect(error.refusal?.leavesWorld == true, "\(name): \(error)")
                #expect(error.errno == ELOOP, "\(name): \(error)")
            }
        }
        try expectOutsideUntouched()
    }

    /// A symlink that stays in the world is still not followed, but it is no escape.
    @Test func aSymlinkInsideTheWorldIsRefusedButIsNoEscape() throws {
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/link.md", withDestinationPath: "docs/onboarding-2026.md") }
        do throws(WorldError) {
            _ = try world.readFile(host: "10.0.12.45", path: "link.md", limit: 100)
            Issue.record("a symlink was followed")
        } catch {
            #expect(error.errno == ELOOP)
            #expect(error.refusal?.leavesWorld == false)
        }
    }

    /// The race of the review: a directory exchanged with a symlink out of the world, thousands of
    /// times, while the daemon reads through it. The read sees the world's file or is refused;
    /// it never sees the file outside.
    @Test func theRenameExchangeRaceNeverReadsOutside() throws {
        try asAgent {
            try FileManager.default.createDirectory(atPath: host + "/d", withIntermediateDirectories: true)
            try "inside\n".write(toFile: host + "/d/secret.txt", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: host + "/s", withDestinationPath: outside)
        }
        let stop = Flag()
        let swaps = Flag()
        let swapper = Thread { [host] in
            try? asAgent {
                while !stop.isSet {
                    if warden_renameat2(AT_FDCWD, host + "/d", AT_FDCWD, host + "/s", 2) == 0 { swaps.set() }
                }
            }
        }
        swapper.start()
        var inside = 0
        var refused = 0
        for _ in 0..<5000 {
            do throws(WorldError) {
                let (bytes, _) = try world.readFile(host: "10.0.12.45", path: "d/secret.txt", limit: 100)
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
    @Test func aHardLinkToARootFileGivesNothing() throws {
        guard getuid() == 0 else {
            print("skipped: needs root (a root-owned file to link to)")
            return
        }
        let rootFile = outside + "/root-only.txt"
        try "ROOT ONLY\n".write(toFile: rootFile, atomically: false, encoding: .utf8)
        chmod(rootFile, 0o600)
        let linked = try asAgent { link(rootFile, host + "/linked.txt") == 0 ? 0 : errno }
        if linked == 0 {
            #expect(throws: WorldError.self) { try world.readFile(host: "10.0.12.45", path: "linked.txt", limit: 100) }
        } else {
            #expect(linked == EPERM || linked == EXDEV, "link: \(linked)")
        }
        // Made by root anyway (as if the agent had got it in): read with the agent's rights, refused.
        _ = unlink(host + "/linked.txt")
        #expect(link(rootFile, host + "/linked.txt") == 0)
        do throws(WorldError) {
            _ = try world.readFile(host: "10.0.12.45", path: "linked.txt", limit: 100)
            Issue.record("a root-only file was read through a hard link")
        } catch {
            #expect(error.errno == EACCES)
        }
    }

    @Test(arguments: [("../10.0.12.46/README.md", "'..'"), ("/etc/passwd", "absolute"), ("a\0b", "NUL"),
                      (String(repeating: "a/", count: 2100) + "x", "longer than 4095"), (String(repeating: "x", count: 300), "longer than 255"),
                      ("", "empty"), ("docs//x", "empty part"), ("./README.md", "'.'")])
    func hostilePathsAreRefusedWithoutATouch(_ path: String, _ why: String) throws {
        for (name, tool) in everyTool(path) {
            do throws(WorldError) {
                try tool()
                Issue.record("\(name) took the path \(path.prefix(40))")
            } catch {
                #expect(error.code == .invalidPath, "\(name): \(error)")
                #expect(error.description.contains(why), "\(name): \(error)")
            }
        }
    }

    @Test func unknownServersAreRefused() {
        #expect(throws: WorldError.self) { try world.listFiles(host: "../..") }
        #expect(throws: WorldError.self) { try world.readFile(host: "10.9.9.9", path: "docs/onboarding-2026.md", limit: 10) }
    }

    /// What the agent could not do itself fails with the errno it would get.
    @Test func theDaemonHasNoMoreRightsThanTheAgent() throws {
        guard getuid() == 0 else {
            print("skipped: needs root (as another user the daemon is the agent)")
            return
        }
        try asAgent {
            chmod(host + "/reports/2024-annual-summary.txt", 0)
            chmod(host + "/docs", 0o555)
        }
        do throws(WorldError) {
            _ = try world.readFile(host: "10.0.12.45", path: "reports/2024-annual-summary.txt", limit: 10)
            Issue.record("read a file of mode 0000")
        } catch { #expect(error.errno == EACCES, "\(error)") }
        do throws(WorldError) {
            try world.write(host: "10.0.12.45", path: "docs/new.md", content: "x")
            Issue.record("wrote into a directory of mode 0555")
        } catch { #expect(error.errno == EACCES, "\(error)") }
        // The snapshot records the unreadable file without its content.
        let entry = try #require(try world.snapshot().entries["10.0.12.45/reports/2024-annual-summary.txt"])
        #expect(entry.unhashed == World.unreadable && entry.sha256.isEmpty)
    }

    /// Sparse files far larger than the world: reads stop at their limit, snapshots record them
    /// by size, copies keep holes, and the kept copy is no larger on disk than the world may be.
    @Test func sparseFilesCostNeitherMemoryNorDisk() throws {
        let limit: UInt64 = 8 << 20
        let smallRoot = temporaryDirectory()
        let small = try makeWorld(scenario, at: smallRoot, sizeLimit: limit)
        let path = smallRoot + "/hosts/10.0.12.45"
        try asAgent {
            for index in 0..<4 {
                let fd = open(path + "/big\(index).bin", O_WRONLY | O_CREAT, 0o644)
                #expect(fd >= 0)
                #expect(ftruncate(fd, 64 << 30) == 0)
                _ = pwrite(fd, "data in the middle", 18, 32 << 30)
                close(fd)
            }
        }
        let (bytes, size) = try small.readFile(host: "10.0.12.45", path: "big0.bin", limit: 1 << 20)
        #expect(bytes.count == 1 << 20 && size == 64 << 30)
        try small.transfer(from: "10.0.12.45", path: "big1.bin", to: "10.0.12.46", destinationPath: "copy.bin")
        var copied = stat()
        #expect(stat(smallRoot + "/hosts/10.0.12.46/copy.bin", &copied) == 0)
        #expect(copied.st_size == 64 << 30 && copied.st_blocks * 512 < 1 << 20, "\(copied.st_blocks) blocks")
        let snapshot = try small.snapshot()
        #expect(snapshot.entries["10.0.12.45/big2.bin"]?.unhashed == World.overLimit)
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = small.keep(into: try Descriptor.directory(at: keep))
        #expect(kept.bytes <= limit, "\(kept)")
        let usage = try runDU(keep)
        #expect(usage <= limit, "kept copy uses \(usage) bytes on disk")
        var big = stat()
        #expect(stat(keep + "/hosts/10.0.12.45/big3.bin", &big) == 0 && big.st_size == 64 << 30)
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

    /// Names that are not UTF-8 are recorded apart, never merged with another name or hidden.
    @Test func namesThatAreNotUTF8AreNotHidden() throws {
        try asAgent {
            let raw: [CChar] = Array((host + "/").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
            let fd = open(raw, O_WRONLY | O_CREAT, 0o644)
            _ = write(fd, "hidden?", 7)
            close(fd)
            try "decoy".write(toFile: host + "/\\xFF", atomically: false, encoding: .utf8)
        }
        let entries = try world.snapshot().entries
        #expect(entries["10.0.12.45/\\xFF"]?.size == 7)
        #expect(entries["10.0.12.45/\\\\xFF"]?.size == 5)
    }

    /// Without openat2 a scenario that gives an agent the shell is refused, saying why.
    @Test func withoutOpenat2ShellScenariosAreRefused() throws {
        let problem = try #require(World.shellProblem(scenario, confined: false))
        #expect(problem.contains("agent-1 has the bash tool") && problem.contains("openat2"))
        #expect(World.shellProblem(scenario, confined: true) == nil)
        let noShell = try Scenario.load(contentsOf: repositoryRoot + "/scenarios/peer-evaluation.yaml")
        #expect(World.shellProblem(noShell, confined: false) == nil)
        #expect(World.kernelConfinesResolution, "this kernel has openat2; the tests here assume it")
    }

    /// Without openat2 the component walk keeps the same promises for trees no shell changes.
    @Test func theComponentWalkRefusesSymlinksToo() throws {
        Beneath.forceComponentWalk = true
        defer { Beneath.forceComponentWalk = false }
        try asAgent { try FileManager.default.createSymbolicLink(atPath: host + "/out", withDestinationPath: outside) }
        #expect(throws: WorldError.self) { try world.readFile(host: "10.0.12.45", path: "out/secret.txt", limit: 100) }
        #expect(throws: WorldError.self) { try world.readFile(host: "10.0.12.45", path: "out", limit: 100) }
        #expect(try world.readFile(host: "10.0.12.45", path: "docs/onboarding-2026.md", limit: 5).bytes.count == 5)
    }
}

/// A flag one thread sets and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
