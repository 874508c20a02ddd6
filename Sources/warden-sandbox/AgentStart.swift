import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The agent itself: resolved on the sandbox's PATH, started as pid 2, reaped by pid 1.
extension Launcher {
    /// Reaps every child (orphans are reparented to pid 1) until the agent exits.
    func reap(until agent: pid_t) -> Int32 {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid == agent { return exitCode(status) }
            if pid < 0 && errno == ECHILD { return 125 }
        }
    }

    /// The agent: pid 2, already restricted by pid 1's layers; a session of its own, its fds,
    /// then exec — through vfork, so that starting it does not copy this process's page tables.
    func startAgent() throws(LaunchFailure) -> pid_t {
        let program = try resolveProgram()
        if spec.keepBrokerFD {
            var info = stat()
            guard fstat(Self.brokerFD, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else {
                throw LaunchFailure(step: "fd 3 is not the broker socket", errno: EBADF)
            }
        }
        let argv: [UnsafeMutablePointer<CChar>?] = spec.command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let pid = warden_start_agent(program, argv, envp, statusFD ?? -1, spec.keepBrokerFD ? 1 : 0)
        guard pid > 0 else { throw LaunchFailure(step: "execute \(program)", errno: errno, commandFailed: errno != 0) }
        return pid
    }

    /// Resolves the command on the sandbox's PATH (execve does not search).
    func resolveProgram() throws(LaunchFailure) -> String {
        guard let name = spec.command.first, !name.isEmpty else { throw LaunchFailure(step: "no command given", errno: EINVAL) }
        if name.contains("/") { return name }
        for dir in (spec.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw LaunchFailure(step: "'\(name)' not found on the sandbox PATH", errno: ENOENT, commandFailed: true)
    }
}
