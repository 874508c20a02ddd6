import CWardenLinux
import Foundation
import Glibc
import Testing

/// The launcher's fds are placed by `warden_spawn`: whatever numbers the daemon's sources have
/// (a busy wardend holds thousands), the child gets each one at its slot.
@Suite struct SpawnTests {
    /// Sources above 1000: the numbers a daemon with 256 agents hands over. With the socket at
    /// 1002, a fixed staging base of 1000 overwrote it (staging slot 2) with /dev/null before
    /// it was placed at 4.
    @Test func highSourceFdsReachTheirSlots() throws {
        // Room for fds above 1000 even where the soft limit is 1024.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 2048, limit.rlim_max >= 2048 {
            limit.rlim_cur = 2048
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        let nullHigh = fcntl(devNull, F_DUPFD_CLOEXEC, 1005)
        let socketHigh = fcntl(pair[1], F_DUPFD_CLOEXEC, 1002)
        #expect(nullHigh == 1005 && socketHigh == 1002, "\(nullHigh) \(socketHigh)")
        defer { close(nullHigh); close(socketHigh) }
        let arguments = ["/bin/sh", "-c", "test -S /dev/fd/4 && ! test -S /dev/fd/3"]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        let fds: [Int32] = [nullHigh, nullHigh, nullHigh, nullHigh, socketHigh]
        var pid: pid_t = 0
        let rc = fds.withUnsafeBufferPointer { warden_spawn(&pid, "/bin/sh", argv, envp, $0.baseAddress, Int32($0.count)) }
        #expect(rc == 0)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status == 0, "fd 4 in the child is not the socket (wait status \(status))")
    }
}
