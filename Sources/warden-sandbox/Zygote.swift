import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// `warden-sandbox --zygote-fd N`: forks standby launchers for the daemon, so that a launcher
/// costs a fork of a warm process instead of an exec — loading and relocating this binary,
/// starting the Swift runtime and warming the JSON paths, for every sandbox.
///
/// Each request on fd N is the launcher's template (the encoded sandbox-policy part of a spec,
/// decoded here once for as long as it stays the same, so its launchers inherit it decoded)
/// with the new launcher's control socket (and, optionally, its log) attached; the reply is the
/// launcher's pid as a 4-byte integer, or -errno. The
/// launcher is forked with CLONE_PARENT, so it is the daemon's child, as one it spawned
/// itself would be: the daemon reaps it and holds a pidfd on it that cannot name another
/// process. From there it is exactly `warden-sandbox --control-fd 4`. The zygote is
/// single-threaded (which makes the raw clone safe) and exits when the daemon closes fd N.
enum Zygote {
    static func serve(fd: Int32) -> Never {
        // Die with the daemon; never fork launchers for nobody.
        SpecHandOff.dieWithTheDaemon()
        SpecHandOff.warmUp()
        var buffer = messageBuffer(1 << 20)
        var templateBytes: [UInt8] = []
        var template: SandboxSpec?
        while true {
            var fds: [Int32] = [-1, -1]
            var count: Int32 = 0
            let n = buffer.withUnsafeMutableBytes { raw in
                fds.withUnsafeMutableBufferPointer { warden_recv_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, 2, &count) }
            }
            if n == 0 { exit(0) }
            if n < 0 {
                if errno == EINTR { continue }
                exit(125)
            }
            if buffer[0..<n].elementsEqual(templateBytes) == false {
                templateBytes = Array(buffer[0..<n])
                template = try? JSONDecoder().decode(SandboxSpec.self, from: Data(templateBytes))
            }
            var reply: Int32
            if count < 1 {
                reply = -EINVAL
            } else if let template {
                let pid = warden_fork_sibling()
                if pid == 0 { becomeLauncher(zygoteFD: fd, template: template, control: fds[0], log: count > 1 ? fds[1] : -1) }
                reply = pid > 0 ? Int32(pid) : -errno
            } else {
                reply = -EBADMSG
            }
            fds.prefix(Int(count)).forEach { close($0) }
            _ = withUnsafeBytes(of: &reply) { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// In the forked child: stdin and stdout /dev/null, stderr the log (or /dev/null), the
    /// control socket on fd 4, nothing else open — then the standby launcher's path.
    private static func becomeLauncher(zygoteFD: Int32, template: SandboxSpec, control: Int32, log: Int32) -> Never {
        close(zygoteFD)
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        // Above every target first, so no dup2 clobbers a source still needed.
        let sources = [devNull, devNull, log >= 0 ? log : devNull, devNull, control].map { fcntl($0, F_DUPFD_CLOEXEC, 64) }
        guard !sources.contains(where: { $0 < 0 }) else { exit(125) }
        for (target, source) in sources.enumerated() where dup2(source, Int32(target)) != Int32(target) { exit(125) }
        _ = warden_close_range(5, UInt32.max)
        SpecHandOff.dieWithTheDaemon()
        Launcher(spec: template, statusFD: 4, printReport: false).run()
    }
}
