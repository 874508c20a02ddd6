import CWardenLinux
import Foundation
import Glibc
import Synchronization
import WardenCore
import WardenSandbox
import WardenSandboxHost

/// The pidfds of one sandbox, closed exactly once: after the close no signal can reach a
/// descriptor number the daemon has since reused.
final class SandboxPidfds: Sendable {
    private let fds: Mutex<(launcher: Int32, initProcess: Int32)>
    init(launcher: Int32, initProcess: Int32) { fds = Mutex((launcher, initProcess)) }

    func kill() {
        fds.withLock { fds in
            if fds.initProcess >= 0 { _ = warden_pidfd_send_signal(fds.initProcess, SIGKILL) }
            if fds.launcher >= 0 { _ = warden_pidfd_send_signal(fds.launcher, SIGKILL) }
        }
    }

    /// Whether the sandbox's pid 1 is still running (false once it exited or was confirmed gone).
    var isRunning: Bool {
        fds.withLock { fds in
            guard fds.initProcess >= 0 else { return false }
            var poll = pollfd(fd: fds.initProcess, events: Int16(POLLIN), revents: 0)
            return Glibc.poll(&poll, 1, 0) == 0
        }
    }

    /// The host pid of the sandbox's pid 1, from its pidfd (nil if unknown or gone).
    var initPID: pid_t? {
        fds.withLock { fds -> pid_t? in
            guard fds.initProcess >= 0, let text = KernelFile.text("/proc/self/fdinfo/\(fds.initProcess)") else { return nil }
            let line = text.split(separator: "\n").first { $0.hasPrefix("Pid:") }
            guard let pid = line.flatMap({ pid_t($0.dropFirst(4).trimmingCharacters(in: .whitespaces)) }), pid > 0 else { return nil }
            return pid
        }
    }

    /// Kills what is left and waits (up to `timeout` s) for pid 1 to be gone; then closes both.
    func confirmExit(timeout: Double) -> Bool {
        let initProcess = fds.withLock { fds in
            if fds.initProcess >= 0 { _ = warden_pidfd_send_signal(fds.initProcess, SIGKILL) }
            return fds.initProcess
        }
        let confirmed = SandboxSpawner.awaitExit(pidfd: initProcess, timeout: timeout)
        fds.withLock { fds in
            if fds.launcher >= 0 { close(fds.launcher) }
            if fds.initProcess >= 0 { close(fds.initProcess) }
            fds = (-1, -1)
        }
        return confirmed
    }
}

/// One sandboxed agent process. A dedicated thread spawns the launcher and then waits for
/// it: the launcher's parent-death signal follows the spawning thread, so that thread must
/// live exactly as long as the sandbox.
struct AgentProcess: Sendable {
    /// How a sandbox ended.
    struct Exit: Sendable {
        /// The launcher's exit code as a shell shows it (128+N for signal N).
        var code: Int32
        /// The sandbox's pid 1 was seen to exit through its pidfd: every process of the sandbox
        /// is gone.
        var confirmed: Bool
        /// What the cgroup limits did (`pids_max`, `oom_kill`, `memory_max` counts).
        var cgroupEvents: [String: Int] = [:]
    }

    let pid: pid_t
    let report: SandboxReport
    let pidfds: SandboxPidfds
    /// Yields the exit once.
    let exit: AsyncStream<Exit>

    /// Kills the whole sandbox: pid 1's death takes its namespace with it, the launcher's its
    /// setup process. Through pidfds, so a pid reused after the exit is never signalled.
    func kill() { pidfds.kill() }

    func waitForExit() async -> Exit {
        for await exit in exit { return exit }
        return Exit(code: -1, confirmed: false)
    }
}
