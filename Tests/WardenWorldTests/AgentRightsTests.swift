import CWardenWorld
import Foundation
import Glibc
import Synchronization
import Testing
@testable import WardenWorld

/// The agent's rights are taken on the calling thread alone, fully, and given back.
@Suite struct AgentRightsTests {
    /// The fsuid (4th field of `Uid:`) and the effective capabilities of the calling thread.
    static func threadCredentials() -> (fsuid: UInt32, capEff: UInt64) {
        let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace).last.flatMap { UInt32($0) }
        let cap = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }?.split(whereSeparator: \.isWhitespace).last
            .flatMap { UInt64($0, radix: 16) }
        return (uid ?? .max, cap ?? .max)
    }

    @Test func theBodyRunsWithTheAgentsIdsAndNoCapabilitiesAndTheThreadGetsItsOwnBack() throws {
        guard getuid() == 0 else {
            print("skipped: taking another uid's rights needs root (this test runs as uid \(getuid()))")
            return
        }
        let before = Self.threadCredentials()
        let rights = AgentRights(uid: 65534, gid: 65534)
        let inside = try rights.perform { () throws(WorldError) in Self.threadCredentials() }
        #expect(inside.fsuid == 65534)
        #expect(inside.capEff == 0)
        #expect(Self.threadCredentials() == before)
        #expect(before.capEff != 0)
    }

    @Test func anotherThreadKeepsItsRightsMeanwhile() throws {
        guard getuid() == 0 else {
            print("skipped: needs root")
            return
        }
        let rights = AgentRights(uid: 65534, gid: 65534)
        // The other thread exists before the rights are taken (a thread made inside `perform`
        // would inherit them, as every clone inherits its creator's credentials).
        let asked = Flag()
        let other = Mutex<(fsuid: UInt32, capEff: UInt64)?>(nil)
        let thread = Thread {
            while !asked.isSet { usleep(500) }
            other.withLock { $0 = Self.threadCredentials() }
        }
        thread.start()
        try rights.perform { () throws(WorldError) in
            asked.set()
            while other.withLock({ $0 == nil }) { usleep(500) }
        }
        let seen = try #require(other.withLock { $0 })
        #expect(seen.fsuid == 0)
        #expect(seen.capEff != 0)
    }

    /// A file only root may read: as the agent, the kernel refuses it with the agent's errno.
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
        let rights = AgentRights(uid: 65534, gid: 65534)
        let result = try rights.perform { () throws(WorldError) -> Int32 in
            let fd = open(secret, O_RDONLY)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        #expect(result == EACCES)
        let fd = open(secret, O_RDONLY)
        #expect(fd >= 0)
        close(fd)
    }
}
