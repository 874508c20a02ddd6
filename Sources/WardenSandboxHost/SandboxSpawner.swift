import CWardenLinux
import Foundation
import Glibc
import WardenCore
import WardenSandbox

/// Starts `warden-sandbox` from the (multithreaded) daemon with posix_spawn — never fork; the
/// forking is done by the single-threaded launcher zygote (`LauncherZygote`), when there is one.
///
/// In two steps, so the first can happen before a run needs it: `standBy` starts a launcher
/// that waits on its control socket (fd 4); `launch` sends it the spec with the agent's stdout,
/// stderr, broker socket and (for the `bash` tool) command channel attached, then reads its
/// status from the same socket until the agent is executing.
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

    /// A launcher waiting for its spec. Its parent-death signal follows the thread that started
    /// it: that thread must outlive the sandbox.
    public struct Standby: Sendable {
        public let pid: pid_t
        let control: Int32
        let launcherPidfd: Int32
        /// The instance its cgroups are under (`SandboxSpec.instance`).
        let instance: String

        /// Sends nothing and lets the launcher exit (a daemon shutting down), then removes the
        /// cgroups it had prepared.
        public func standDown() {
            close(control)
            SandboxSpawner.reap(pid)
            if launcherPidfd >= 0 { close(launcherPidfd) }
            CgroupCleanup.remove(launcherPID: pid, instance: instance)
        }
    }

    /// Starts a launcher and gives it `template` (the sandbox policy's part of a spec) to build
    /// namespaces, id maps, cgroups and the system part of the root from, ahead of the run.
    /// `log`: where the launcher's own stderr goes until it has a run (what it says when it dies
    /// before taking a spec); /dev/null when nil. With a running `zygote` the launcher is forked
    /// from it; otherwise (or if it has died) spawned.
    public static func standBy(launcher: String, template: SandboxSpec, log: String? = nil,
                               zygote: LauncherZygote? = nil) throws(SandboxError) -> Standby {
        let encoded: Data
        do { encoded = try JSONEncoder().encode(template) } catch {
            throw SandboxError(.spawn, "cannot encode the launcher's template: \(error)")
        }
        return try standBy(launcher: launcher, encodedTemplate: encoded, instance: template.instance, log: log, zygote: zygote)
    }

    /// The same with the template already encoded (a pool encodes its template once).
    public static func standBy(launcher: String, encodedTemplate templateData: Data, instance: String, log: String? = nil,
                               zygote: LauncherZygote? = nil) throws(SandboxError) -> Standby {
        var control: [Int32] = [0, 0]
        guard warden_seqpacket_pair(&control) == 0 else { throw SandboxError(.spawn, "socketpair: \(String(cString: strerror(errno)))") }
        let logFD = openLog(log)
        defer { if logFD >= 0 { close(logFD) } }
        let pid: pid_t
        // Forked from the zygote, the launcher has its template already.
        var forked = false
        if let zygotePID = zygote?.forkLauncher(template: templateData, control: control[1], log: logFD) {
            pid = zygotePID
            forked = true
        } else {
            do { pid = try spawnLauncher(launcher, flag: "--control-fd", channel: control[1], slot: 4, instance: instance, logFD: logFD) } catch {
                close(control[1])
                close(control[0])
                throw error
            }
        }
        close(control[1])
        // Still our unreaped child, so this pidfd cannot name another process.
        let standby = Standby(pid: pid, control: control[0], launcherPidfd: warden_pidfd_open(pid), instance: instance)
        guard !forked else { return standby }
        let sent = templateData.withUnsafeBytes { send(standby.control, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard !templateData.isEmpty, sent == templateData.count else {
            kill(pid, SIGKILL)
            standby.standDown()
            throw SandboxError(.spawn, "cannot hand the launcher its template: \(String(cString: strerror(errno)))")
        }
        return standby
    }

    /// Where a launcher's own stderr goes before it has a run (append), or -1 for /dev/null.
    static func openLog(_ log: String?) -> Int32 {
        log.map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640) } ?? -1
    }

    /// posix_spawn of `launcher FLAG SLOT --instance INSTANCE` with `channel` on fd SLOT, stderr
    /// on `logFD` (or /dev/null) and /dev/null on every other fd below SLOT. The instance on its
    /// command line is how a restarted daemon knows its predecessor's leftover launchers (and
    /// leaves other daemons' alone).
    static func spawnLauncher(_ launcher: String, flag: String, channel: Int32, slot: Int, instance: String, logFD: Int32) throws(SandboxError) -> pid_t {
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        let arguments: [String] = [launcher, flag, String(slot), "--instance", instance]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        var childFDs = [Int32](repeating: devNull, count: slot) + [channel]
        if logFD >= 0 { childFDs[2] = logFD }
        var pid: pid_t = 0
        let rc = childFDs.withUnsafeBufferPointer { warden_spawn(&pid, launcher, argv, envp, $0.baseAddress, Int32($0.count)) }
        guard rc == 0 else { throw SandboxError(.spawn, "cannot start \(launcher): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Hands `standby` its spec and fds and waits until the agent is executing (the control
    /// socket closes). `supervise` receives the seccomp listener as soon as it arrives — the
    /// agent's exec is itself a supervised syscall, so supervision must run before the agent can
    /// start. Throws with the launcher's own words when the sandbox could not be built.
    public static func launch(_ standby: Standby, spec: SandboxSpec, stdoutFD: Int32, stderrFD: Int32, brokerFD: Int32,
                              shellFD: Int32? = nil, supervise: (Int32) -> Void = { close($0) }) throws(SandboxError) -> Launched
    {
        let control = standby.control
        defer { close(control) }
        var initPidfd: Int32 = -1
        func abandon() {
            kill(standby.pid, SIGKILL)
            reap(standby.pid)
            CgroupCleanup.remove(launcherPID: standby.pid, instance: standby.instance)
            if standby.launcherPidfd >= 0 { close(standby.launcherPidfd) }
            if initPidfd >= 0 { close(initPidfd) }
        }
        let specData: Data
        do { specData = try JSONEncoder().encode(spec) } catch {
            abandon()
            throw SandboxError(.spawn, "cannot encode the sandbox spec: \(error)")
        }
        let fds = [stdoutFD, stderrFD, brokerFD] + (shellFD.map { [$0] } ?? [])
        let sent = specData.withUnsafeBytes { raw in
            fds.withUnsafeBufferPointer { warden_send_with_fds(control, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == specData.count else {
            abandon()
            throw SandboxError(.spawn, "cannot hand the spec to the launcher: \(String(cString: strerror(errno)))")
        }
        var report: SandboxReport?
        var failure: String?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            var received: Int32 = -1
            let n = buffer.withUnsafeMutableBytes { warden_recv_with_fd(control, $0.baseAddress, $0.count, &received) }
            if n <= 0 {
                if received >= 0 { close(received) }
                break
            }
            // One parse tells the three packets apart; only the report goes through Codable.
            let packet = buffer[0..<n]
            let object = try? JSONValue.parse(packet)
            if let message = object?["error"]?.stringValue {
                failure = message
            } else if let initPID = object?["init_pid"]?.intValue {
                if initPidfd < 0 { initPidfd = warden_pidfd_open(pid_t(truncatingIfNeeded: initPID)) }
            } else if object != nil, let decoded = try? JSONDecoder().decode(SandboxReport.self, from: Data(packet)) {
                report = decoded
            }
            if received >= 0 {
                if report != nil, spec.supervised { supervise(received) } else { close(received) }
            }
        }
        if let failure {
            abandon()
            // A standby prepared from another policy: the caller starts a fresh launcher.
            if failure.hasPrefix(SandboxSpec.standbyMismatch) { throw SandboxError(.spawn, failure) }
            throw SandboxError(.setup, "the sandbox could not start the agent: \(failure)")
        }
        guard let report else {
            abandon()
            throw SandboxError(.setup, "the launcher exited before reporting; see the agent's stderr log")
        }
        return Launched(pid: standby.pid, report: report, launcherPidfd: standby.launcherPidfd, initPidfd: initPidfd)
    }

    /// Both steps at once.
    public static func spawn(launcher: String, spec: SandboxSpec, brokerFD: Int32, shellFD: Int32? = nil,
                             stdoutFD: Int32, stderrFD: Int32, supervise: (Int32) -> Void = { close($0) })
        throws(SandboxError) -> Launched
    {
        try launch(try standBy(launcher: launcher, template: spec), spec: spec, stdoutFD: stdoutFD, stderrFD: stderrFD, brokerFD: brokerFD,
                   shellFD: shellFD, supervise: supervise)
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
