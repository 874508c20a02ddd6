import CWardenLinux
import Foundation
import Glibc

/// Starts `warden-sandbox` from the (multithreaded) daemon with posix_spawn — never fork — and
/// hands it the broker socket as fd 3, the spec on fd 4, a status socket on fd 5 and, for the
/// `bash` tool, the command channel on fd 6.
public enum SandboxSpawner {
    public struct Launched: Sendable {
        public var pid: pid_t
        public var report: SandboxReport
        /// A pidfd on the launcher (signals without pid-reuse races), or -1.
        public var launcherPidfd: Int32
        /// A pidfd on the sandbox's pid 1: readable once it has exited, which the kernel allows
        /// only after every other process of its pid namespace is gone. -1 if unknown.
        public var initPidfd: Int32
    }

    /// Spawns the launcher and waits until the agent is executing (the status socket closes).
    /// `supervise` receives the seccomp listener as soon as it arrives — the agent's exec is
    /// itself a supervised syscall, so supervision must run before the agent can start.
    /// Throws with the launcher's own words when the sandbox could not be built.
    public static func spawn(launcher: String, spec: SandboxSpec, brokerFD: Int32, shellFD: Int32? = nil,
                             stdoutFD: Int32, stderrFD: Int32, supervise: (Int32) -> Void = { close($0) })
        throws(SandboxError) -> Launched
    {
        let specData: Data
        do { specData = try JSONEncoder().encode(spec) } catch { throw SandboxError(.spawn, "cannot encode the sandbox spec: \(error)") }
        guard let specFile = tmpfile() else { throw SandboxError(.spawn, "cannot create the spec file: \(String(cString: strerror(errno)))") }
        defer { fclose(specFile) }
        let specFD = fileno(specFile)
        let written = specData.withUnsafeBytes { write(specFD, $0.baseAddress, $0.count) }
        guard written == specData.count, lseek(specFD, 0, SEEK_SET) == 0 else {
            throw SandboxError(.spawn, "cannot write the spec file")
        }
        var status: [Int32] = [0, 0]
        guard warden_seqpacket_pair(&status) == 0 else { throw SandboxError(.spawn, "socketpair: \(String(cString: strerror(errno)))") }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }

        let arguments: [String] = [launcher, "--spec-fd", "4", "--status-fd", "5"]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        var childFDs: [Int32] = [devNull, stdoutFD, stderrFD, brokerFD, specFD, status[1]]
        if let shellFD { childFDs.append(shellFD) }
        var pid: pid_t = 0
        let rc = childFDs.withUnsafeBufferPointer { fds in
            warden_spawn(&pid, launcher, argv, envp, fds.baseAddress, Int32(fds.count))
        }
        close(status[1])
        guard rc == 0 else {
            close(status[0])
            throw SandboxError(.spawn, "cannot start \(launcher): \(String(cString: strerror(rc)))")
        }
        defer { close(status[0]) }
        // Still our unreaped child, so this pidfd cannot name another process.
        let launcherPidfd = warden_pidfd_open(pid)
        var initPidfd: Int32 = -1
        var report: SandboxReport?
        var failure: String?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            var received: Int32 = -1
            let n = buffer.withUnsafeMutableBytes { warden_recv_with_fd(status[0], $0.baseAddress, $0.count, &received) }
            if n <= 0 {
                if received >= 0 { close(received) }
                break
            }
            let packet = Data(buffer[0..<n])
            if let object = try? JSONDecoder().decode([String: String].self, from: packet), let message = object["error"] {
                failure = message
            } else if let object = try? JSONDecoder().decode([String: Int32].self, from: packet), let initPID = object["init_pid"] {
                if initPidfd < 0 { initPidfd = warden_pidfd_open(initPID) }
            } else if let decoded = try? JSONDecoder().decode(SandboxReport.self, from: packet) {
                report = decoded
            }
            if received >= 0 {
                if report != nil, spec.supervised { supervise(received) } else { close(received) }
            }
        }
        func abandon() {
            if launcherPidfd >= 0 { close(launcherPidfd) }
            if initPidfd >= 0 { close(initPidfd) }
        }
        if let failure {
            reap(pid)
            abandon()
            throw SandboxError(.setup, "the sandbox could not start the agent: \(failure)")
        }
        guard let report else {
            let code = reap(pid)
            abandon()
            throw SandboxError(.setup, "the launcher exited (status \(code)) before reporting; see the agent's stderr log")
        }
        return Launched(pid: pid, report: report, launcherPidfd: launcherPidfd, initPidfd: initPidfd)
    }

    /// Waits for a launcher and returns its exit code as a shell shows it.
    @discardableResult
    public static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Waits until a pidfd's process has exited, up to `timeout` seconds.
    public static func awaitExit(pidfd: Int32, timeout: Double) -> Bool {
        guard pidfd >= 0 else { return false }
        var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&poller, 1, Int32(timeout * 1000))
            if rc < 0 && errno == EINTR { continue }
            return rc > 0
        }
    }
}
