import CWardenWorld
import Foundation
import Glibc
import Synchronization
import Testing
import WardenScenario
@testable import WardenWorld

/// A world's threads run with the agent's rights and Landlock beneath the world, for good;
/// the rest of the process keeps its own.
@Suite struct AgentRightsTests {
    @Test func theWorldsThreadsAreTheAgentConfinedToTheWorld() async throws {
        guard getuid() == 0 else {
            print("skipped: taking another uid's rights needs root (this test runs as uid \(getuid()))")
            return
        }
        let world = try await makeWorld(try Scenario.load(contentsOf: scenarioPath))
        let before = threadCredentials()
        // Read with the syscalls: /proc is outside the world, so Landlock keeps these threads from it.
        let worker = try await world.worker.run { Self.credentials() }
        #expect(worker.fsuid == 65534 && worker.capEff == 0, "\(worker)")
        let observer = try await world.observer.run { Self.credentials() }
        #expect(observer.fsuid == 65534 && observer.capEff == 1 << 2, "\(observer)")  // CAP_DAC_READ_SEARCH only
        #expect(threadCredentials() == before)
        #expect(before.capEff != 0)
        let confinement = await world.confinement()
        #expect(confinement["worker"]?.contains("Landlock ABI") == true, "\(confinement)")
        // Landlock: nothing outside the world opens on the worker thread, even by a plain path.
        let outside = try await world.worker.run { () -> Int32 in
            let fd = open("/etc/hostname", O_RDONLY)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        #expect(outside == EACCES)
    }

    static func credentials() -> (fsuid: UInt32, capEff: UInt64) {
        var effective: UInt64 = 0
        var permitted: UInt64 = 0
        _ = warden_thread_capabilities(&effective, &permitted)
        return (UInt32(bitPattern: warden_thread_setfsuid(-1)), effective)
    }

    /// A root-only file: as the agent, the kernel refuses it with the agent's errno.
    @Test func whatTheAgentCannotReadFailsWithItsErrno() throws {
        guard getuid() == 0 else {
            print("skipped: needs root")
            return
        }
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let secret = dir + "/secret"
        try "root only\n".write(toFile: secret, atomically: false, encoding: .utf8)
        chmod(secret, 0o600)
        let result = try asAgent { () -> Int32 in
            let fd = open(secret, O_RDONLY)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        #expect(result == EACCES)
        let fd = open(secret, O_RDONLY)
        #expect(fd >= 0)
        close(fd)
        #expect(threadCredentials().fsuid == 0)
    }
}
