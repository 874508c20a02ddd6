import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The launcher's process tree:
///
///     launcher (host namespaces) ── writes the child's uid/gid maps, relays its exit code
///       └─ setup (new user, mount, pid, net, ipc, uts, cgroup namespaces)
///            └─ init, pid 1: builds the root, brings up lo; rlimits, credentials, no_new_privs,
///               │ Landlock, seccomp (with the listener it hands to the daemon); reaps orphans
///                 ├─ agent, pid 2: setsid, its fds, exec
///                 └─ command server (with a shell tool): runs `bash` tool commands
///
///
/// Every process below the launcher dies with its parent (PDEATHSIG), and everything in the
/// pid namespace dies with pid 1, so killing the launcher kills the whole sandbox.
/// The launcher is single-threaded, which makes `fork` without `exec` safe here.
///
/// Under the daemon the tree is built ahead of need from a template (the sandbox policy's
/// part of a spec): cgroups, namespaces, id maps and the system part of the root are ready
/// before a run asks. The run's spec then travels launcher → pid 1 with its fds, pid 1 checks
/// it against the template, and finishes: the run's binds, pivot_root, the layers, the agent.
struct Launcher {
    /// The template until pid 1 receives the run's spec; the run's spec after.
    var spec: SandboxSpec
    /// The daemon's status socket (SOCK_SEQPACKET): `{"init_pid": N}` from the setup process,
    /// the `SandboxReport` from pid 1 with the seccomp listener attached, or `{"error": ...}`;
    /// EOF once the agent is executing.
    let statusFD: Int32?
    let printReport: Bool
    var launcherPID = getpid()

    static let namespaces = ["user", "mount", "pid", "net", "ipc", "uts", "cgroup"]
    static let brokerFD: Int32 = 3
    /// The daemon's end of the `bash` tool's command channel (SOCK_SEQPACKET).
    static let shellFD: Int32 = 6

    func run() -> Never {
        var toSetup: [Int32] = [0, 0]
        var toLauncher: [Int32] = [0, 0]
        guard warden_pipe2_cloexec(&toSetup) == 0, warden_pipe2_cloexec(&toLauncher) == 0 else {
            fail(LaunchFailure(step: "pipe", errno: errno))
        }
        // Launcher → pid 1: the run's spec and fds, when the daemon sends them.
        var handOff: [Int32] = [-1, -1]
        if statusFD != nil, warden_seqpacket_pair(&handOff) != 0 { fail(LaunchFailure(step: "socketpair", errno: errno)) }
        var cgroups = CgroupLimits(spec: spec)
        if !cgroups.apply(), spec.cgroupRequired {
            fail(LaunchFailure(step: "no cgroup hierarchy could take the policy's limits (cgroup.required is set)", errno: 0))
        }
        let child = fork()
        if child < 0 { fail(LaunchFailure(step: "fork", errno: errno)) }
        if child == 0 {
            close(toSetup[1])
            close(toLauncher[0])
            if handOff[0] >= 0 { close(handOff[0]) }
            setupProcess(parent: launcherPID, wait: toSetup[0], notify: toLauncher[1], cgroup: cgroups.summary, handOff: handOff[1])
        }
        close(toSetup[0])
        close(toLauncher[1])
        if handOff[1] >= 0 { close(handOff[1]) }
        var byte: UInt8 = 0
        if read(toLauncher[0], &byte, 1) == 1 {
            do {
                try writeIDMaps(pid: child)
                writeAll(toSetup[1], [1])
            } catch {
                // The setup process reports nothing further; say why here.
                FileHandle.standardError.write(Data("warden-sandbox: \(error)\n".utf8))
                kill(child, SIGKILL)
            }
        }
        close(toSetup[1])
        if let statusFD {
            // Standing by until the run's spec arrives; pass it on untouched (pid 1 checks it).
            if !SpecHandOff.forward(from: statusFD, to: handOff[0]) { kill(child, SIGKILL) }
            close(statusFD)
            close(handOff[0])
        }
        let code = waitExitCode(child)
        // Under the daemon the cgroups stay for it to read their event counters (limits hit,
        // OOM kills) before removing them; on its own the launcher removes them.
        if statusFD == nil { cgroups.remove() }
        exit(code)
    }

    private func setupProcess(parent: pid_t, wait: Int32, notify: Int32, cgroup: String, handOff: Int32) -> Never {
        do throws(LaunchFailure) {
            try check("set the parent-death signal", warden_set_pdeathsig(SIGKILL))
            if getppid() != parent { exit(125) }
            try check("unshare namespaces", warden_unshare_sandbox_namespaces())
            // A credential change (the new user namespace) clears the parent-death signal: set it again.
            try check("set the parent-death signal", warden_set_pdeathsig(SIGKILL))
            if getppid() != parent { exit(125) }
            writeAll(notify, [1])
            var byte: UInt8 = 0
            guard read(wait, &byte, 1) == 1 else { throw LaunchFailure(step: "the launcher could not write the id maps", errno: 0) }
            close(wait)
            close(notify)
            let setupPID = getpid()
            let initPID = fork()
            if initPID < 0 { throw LaunchFailure(step: "fork pid 1", errno: errno) }
            if initPID == 0 { initProcess(parent: setupPID, cgroup: cgroup, handOff: handOff) }
            if handOff >= 0 { close(handOff) }
            if let statusFD {
                // The daemon confirms the sandbox's end through a pidfd on pid 1: once pid 1 has
                // exited, the kernel has killed every process of its namespace.
                let line = Array("{\"init_pid\":\(initPID)}".utf8)
                _ = line.withUnsafeBytes { warden_send_with_fd(statusFD, $0.baseAddress, $0.count, -1) }
                close(statusFD)
            }
            exit(waitExitCode(initPID))
        } catch {
            fail(error)
        }
    }

    private func initProcess(parent: pid_t, cgroup: String, handOff: Int32) -> Never {
        do throws(LaunchFailure) {
            try check("set the parent-death signal", warden_set_pdeathsig(SIGKILL))
            var root = RootFilesystem()
            try root.prepare(systemBinds: spec.systemBinds, tmpSizeBytes: spec.tmpSizeBytes)
            var run = self
            if handOff >= 0 {
                run.spec = try SpecHandOff.receiveRun(from: handOff, template: spec)
                close(handOff)
            }
            run.finishInit(root: &root, cgroup: cgroup)
        } catch {
            fail(error, exitCode: error.commandFailed ? 127 : 125)
        }
    }

    /// pid 1 with the run's spec: the run's binds and the layers, then the agent.
    private func finishInit(root: inout RootFilesystem, cgroup: String) -> Never {
        do throws(LaunchFailure) {
            try root.finish(binds: spec.binds, writableBinds: spec.writableBinds)
            try check("set the hostname", sethostname(spec.hostname, spec.hostname.utf8.count))
            let loopback = warden_loopback_up() == 0
            // From here on pid 1 restricts itself exactly as the agent will be restricted, so
            // the agent and the shell's command server inherit one set of layers (and one
            // seccomp listener).
            try applyLimitsAndDropCredentials()
            let landlock = try restrictWithLandlock(systemBinds: root.mounted)
            let filters = spec.seccompFilters.compactMap { Data(base64Encoded: $0).map { [UInt8]($0) } }
            guard filters.count == spec.seccompFilters.count else { throw LaunchFailure(step: "decode the seccomp program", errno: EINVAL) }
            if statusFD == nil && filters.isEmpty { throw LaunchFailure(step: "no seccomp program: refusing to run unfiltered", errno: EINVAL) }
            var notApplied: [String] = []
            if !spec.supervised { notApplied.append("syscall_supervision") }
            if !(cgroup.hasPrefix("v") || cgroup == "not requested") { notApplied.append("cgroup_limits") }
            if !root.sharedInodes.isEmpty { notApplied.append("private_inodes: " + root.sharedInodes.joined(separator: ", ")) }
            var report = SandboxReport(
                namespaces: Self.namespaces, pivotRoot: true, readOnlyRoot: true, systemBinds: root.mounted,
                binds: spec.binds.map { "\($0.source):\($0.target)" }, tmpSizeBytes: root.tmpSizeBytes, uid: getuid(),
                hostUID: getuid() == spec.uid ? spec.hostUID : getuid(), capabilities: warden_effective_capabilities() == 0 ? "none" : "some",
                noNewPrivs: warden_get_no_new_privs() == 1, seccompFilters: filters.count,
                seccompInstructions: filters.reduce(0) { $0 + $1.count / 8 }, rlimits: spec.rlimits, loopback: loopback,
                notApplied: notApplied, launcherPID: launcherPID)
            report.landlock = landlock
            report.cgroup = cgroup
            report.writableBinds = spec.writableBinds.map { "\($0.source):\($0.target)" }
            report.shell = spec.shell
            let listener = try installSeccomp(filters)
            if spec.supervised { report.syscallSupervision = "user notification (listener handed to the daemon)" }
            if let data = try? JSONEncoder().encode(report) {
                if let statusFD { _ = data.withUnsafeBytes { warden_send_with_fd(statusFD, $0.baseAddress, $0.count, listener) } }
                if printReport { FileHandle.standardError.write(data + Data("\n".utf8)) }
            }
            if listener >= 0 { close(listener) }

            let agent = try startAgent()
            if spec.shell {
                let server = fork()
                if server < 0 { throw LaunchFailure(step: "fork the command server", errno: errno) }
                if server == 0 {
                    if let statusFD { close(statusFD) }
                    close(Self.brokerFD)
                    CommandServer(socket: Self.shellFD, environment: spec.environment).run()
                }
                close(Self.shellFD)
            }
            // pid 1 holds nothing the agent could use: no fds beyond stdio, no capabilities.
            if let statusFD { close(statusFD) }
            _ = warden_close_range(3, UInt32.max)
            exit(reap(until: agent))
        } catch {
            fail(error, exitCode: error.commandFailed ? 127 : 125)
        }
    }

    /// Reports a setup failure on the control socket and stderr, then exits.
    func fail(_ error: any Error, statusFD explicitFD: Int32? = nil, exitCode: Int32 = 125) -> Never {
        let message = "\(error)"
        if let fd = explicitFD ?? statusFD,
           let data = try? JSONEncoder().encode(["error": message]) {
            writeAll(fd, Array(data) + [10])
        }
        FileHandle.standardError.write(Data("warden-sandbox: \(message)\n".utf8))
        exit(exitCode)
    }
}
