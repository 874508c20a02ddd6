import Foundation
import Glibc
import Testing
import WardenCore
import WardenSandbox
import WardenSandboxHost
@testable import WardenDaemon

@Suite(.serialized) struct LimitWatchTests {
    /// A pid that has come and gone.
    static func deadPID() throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return pid
    }

    /// What it cannot see it names, by limit, instead of looking as if it watched.
    @Test func namesWhatItCannotSee() throws {
        let gone = try Self.deadPID()
        let watch = LimitWatch(cgroup: SandboxCgroup(launcherPID: gone, instance: "warden"), initPID: gone, pidsLimit: 64, nofile: 1024,
                               tmpBytes: 64 << 20, world: nil)
        let blind = watch.blindSpots()
        #expect(blind.keys.sorted() == ["open_files", "processes", "tmp"], "\(blind)")
        #expect(blind["tmp"]?.contains("/proc/\(gone)/root/tmp") == true)
        #expect(watch.reached().isEmpty)
        // With a live pid 1 (this process) only the missing cgroup is left.
        let own = LimitWatch(cgroup: SandboxCgroup(launcherPID: gone, instance: "warden"), initPID: getpid(), pidsLimit: 64, nofile: 1024,
                             tmpBytes: 64 << 20, world: nil)
        #expect(own.blindSpots().keys.sorted() == ["processes"])
    }

    /// A process at its nofile count and a full world are seen as reached.
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs"))
    func seesHeldDescriptorsAndAFullWorld() throws {
        let world = FileManager.default.temporaryDirectory.appendingPathComponent("warden-limit-\(UUID().uuidString)").path
        try WorldFilesystem.mount(at: world, bytes: 1 << 20)
        defer { WorldFilesystem.unmount(world); rmdir(world) }
        // A limit a few below what this process holds (other tests' descriptors come and go).
        let held = LimitWatch.descriptorCount(getpid())
        let watch = LimitWatch(cgroup: SandboxCgroup(launcherPID: try Self.deadPID(), instance: "warden"), initPID: getpid(), pidsLimit: nil,
                               nofile: UInt64(max(1, held - 8)), tmpBytes: 64 << 20, world: (world, 1 << 20))
        #expect(watch.reached().map(\.limit) == ["open_files"])
        // Fill the world: 2 MiB into 1 MiB.
        let fd = open(world + "/fill", O_WRONLY | O_CREAT, 0o644)
        try #require(fd >= 0)
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        for _ in 0..<32 where write(fd, chunk, chunk.count) > 0 {}
        close(fd)
        let reached = watch.reached()
        #expect(reached.map(\.limit) == ["open_files", "world"], "\(reached)")
        #expect(reached.last?.reason == "disk (the world is full: world_size 1 MiB)")
    }
}
