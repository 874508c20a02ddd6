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

    static func launch(supply: LauncherSupply, spec: SandboxSpec, brokerFD: Int32, shellFD: Int32?, stdoutFD: Int32, stderrFD: Int32,
                       supervise: @escaping @Sendable (Int32) -> Void) async throws(SandboxError) -> AgentProcess
    {
        let (exitStream, exitContinuation) = AsyncStream<Exit>.makeStream()
        let result: Result<(SandboxSpawner.Launched, SandboxPidfds), SandboxError> = await withCheckedContinuation { continuation in
            supply.run { standby in
                do throws(SandboxError) {
                    let launched: SandboxSpawner.Launched
                    do throws(SandboxError) {
                        let ready: SandboxSpawner.Standby
                        if let standby { ready = standby } else { ready = try SandboxSpawner.standBy(launcher: supply.launcher, template: spec, log: supply.log, zygote: supply.zygote) }
                        launched = try SandboxSpawner.launch(ready, spec: spec,
                                                             stdoutFD: stdoutFD, stderrFD: stderrFD, brokerFD: brokerFD,
                                                             shellFD: shellFD, supervise: supervise)
                    } catch {
                        // A standby that died waiting, or was prepared for another policy, could
                        // not take the spec: start a launcher for it now.
                        guard error.code == .spawn, standby != nil else { throw error }
                        launched = try SandboxSpawner.spawn(launcher: supply.launcher, spec: spec, brokerFD: brokerFD, shellFD: shellFD,
                                                            stdoutFD: stdoutFD, stderrFD: stderrFD, supervise: supervise)
                    }
                    let pidfds = SandboxPidfds(launcher: launched.launcherPidfd, initProcess: launched.initPidfd)
                    continuation.resume(returning: .success((launched, pidfds)))
                    let code = SandboxSpawner.reap(launched.pid)
                    // The launcher exits once pid 1 is reaped — or at once if it was killed, in
                    // which case pid 1 follows by its parent-death signal. Either way pid 1's
                    // pidfd says when the whole namespace is gone.
                    let confirmed = pidfds.confirmExit(timeout: 10)
                    // The launcher leaves its cgroups to us, to read what their limits did.
                    let events = CgroupCleanup.remove(launcherPID: launched.pid, instance: spec.instance)
                    exitContinuation.yield(Exit(code: code, confirmed: confirmed, cgroupEvents: events))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
                exitContinuation.finish()
            }
        }
        switch result {
        case .success(let (launched, pidfds)):
            return AgentProcess(pid: launched.pid, report: launched.report, pidfds: pidfds, exit: exitStream)
        case .failure(let error): throw error
        }
    }

    /// Kills the whole sandbox: pid 1's death takes its namespace with it, the launcher's its
    /// setup process. Through pidfds, so a pid reused after the exit is never signalled.
    func kill() { pidfds.kill() }

    func waitForExit() async -> Exit {
        for await exit in exit { return exit }
        return Exit(code: -1, confirmed: false)
    }
}
