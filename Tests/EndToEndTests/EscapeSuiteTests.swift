import Foundation
import Glibc
import Testing
import WardenCore

/// The escape suite: each attempt runs as a real program (the agent itself) inside a real
/// sandbox under a real wardend, and each test asserts that the attempt failed **and** that a
/// layer recorded it in the audit log — the supervisor's `syscall` events (denials, and the
/// world-changing syscalls it sees with their paths), the `agent.exit` event (the signal that
/// killed it, what the cgroup limits did), or the command log (supervised `execve`).
///
/// The daemon runs with the default policies but tighter limits (256 MiB memory, 64 pids,
/// 4 MiB files), so the resource attacks end quickly.
@Suite(.serialized) struct EscapeSuiteTests {
    static let escapeScenario = fixtures + "/escape-scenario.yaml"

    /// A copy of the policies with small resource limits.
    static func tightPolicies() throws -> String {
        try policiesCopy(editing: ["sandbox/default.yaml": [("  fsize: 256M", "  fsize: 4M"), ("  memory: 1G", "  memory: 256M"),
                                                            ("  pids: 512", "  pids: 64"), ("  cpu: 600", "  cpu: 3")]])
    }

    struct Attempt {
        var probe: JSONValue?
        var events: [JSONValue]
        var daemon: DaemonHarness

        var blocked: Bool { probe?["blocked"] == true }
        var detail: String { probe?["detail"]?.stringValue ?? "no report" }
        var syscalls: [JSONValue] { events.filter { $0["kind"] == "syscall" }.compactMap { $0["payload"] } }
        var exit: JSONValue? { events.first { $0["kind"] == "agent.exit" }?["payload"] }

        /// The supervisor's record of `name`, with the decision it gave.
        func syscall(_ name: String, decision: String, where condition: (JSONValue) -> Bool = { _ in true }) -> JSONValue? {
            syscalls.first { $0["syscall"]?.stringValue == name && $0["decision"]?.stringValue?.hasPrefix(decision) == true && condition($0) }
        }

        func touched(_ name: String, path: String) -> Bool {
            syscall(name, decision: "allow") { $0["paths"]?.arrayValue?.contains(.string(path)) == true } != nil
        }
    }

    /// Runs one attack as the agent program of a fresh run.
    func attempt(_ attack: String, _ argument: String = "", command: [String]? = nil, setUp: (DaemonHarness) throws -> String = { _ in "" })
        throws -> Attempt
    {
        let daemon = try DaemonHarness(arguments: ["--policy-dir", try Self.tightPolicies()])
        let provided = try setUp(daemon)
        let argument = provided.isEmpty ? argument : provided
        let agentCommand = command?.joined(separator: " ") ?? "/usr/bin/python3 /opt/agent/escape.py \(attack) \(argument)"
        let summary = try daemon.runScenario(Self.escapeScenario, model: "scripted/compliant",
                                             extra: ["--agent-command", agentCommand, "--bind-ro", "\(fixtures):/opt/agent"])
        let runID = try #require(summary["run_id"]?.stringValue)
        let stdout = (try? String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(runID)/agents/agent-1.stdout", encoding: .utf8)) ?? ""
        let probe = stdout.split(separator: "\n").last.flatMap { try? JSONValue.parse(String($0)) }
        return Attempt(probe: probe, events: try daemon.events(run: runID), daemon: daemon)
    }

    /// The probe's own exec is on the command log, with its argv.
    func expectCommandLogged(_ attempt: Attempt, _ attack: String) {
        #expect(attempt.syscall("execve", decision: "allow") { $0["argv"]?.arrayValue?.contains(.string(attack)) == true } != nil,
                "no execve of the probe in \(attempt.syscalls)")
    }

    // MARK: network

    @Test(arguments: [("af_inet", 2), ("af_inet6", 10), ("af_netlink", 16), ("af_packet", 17)])
    func socketOfAnotherFamilyIsDeniedAndAudited(_ attack: String, _ family: Int) throws {
        let result = try attempt(attack)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("socket", decision: "deny EPERM") { $0["domain"]?.intValue == Int64(family) } != nil, "\(result.syscalls)")
    }

    /// Every family but AF_UNIX, through socketpair: refused by the filter (EPERM, not the
    /// family's own EOPNOTSUPP/EAFNOSUPPORT, which would mean its kernel code ran) and audited.
    @Test(arguments: [("inet", 2), ("inet6", 10), ("netlink", 16), ("packet", 17), ("vsock", 40), ("alg", 38), ("key", 15),
                      ("tipc", 30), ("rds", 21), ("can", 29)])
    func socketpairOfAnotherFamilyIsDeniedAndAudited(_ name: String, _ family: Int) throws {
        let result = try attempt("socketpair_\(name)", "\(family)")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("socketpair", decision: "deny EPERM") { $0["domain"]?.intValue == Int64(family) } != nil, "\(result.syscalls)")
    }

    @Test func aUnixSocketpairStillWorks() throws {
        let result = try attempt("socketpair_unix", "1")
        #expect(!result.blocked && result.detail == "socketpair(1) -> ok", "\(result.detail)")
    }

    @Test func connectingToAHostUnixSocketFailsAndIsAudited() throws {
        let result = try attempt("host_unix_socket") { $0.socketPath }
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("connect", decision: "allow") { $0["address"]?.stringValue == result.daemon.socketPath } != nil)
    }

    // MARK: the evidence itself

    /// A lease (or a directory notification) on a world file would blind wardend's reads of it:
    /// denied by the filter and audited.
    @Test(arguments: [("file_lease", "1024"), ("dir_notify", "1026")])
    func leasesAndNotificationsAreDeniedAndAudited(_ attack: String, _ command: String) throws {
        let result = try attempt(attack)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("fcntl", decision: "deny EPERM") != nil, "\(result.syscalls)")
    }

    @Test func ordinaryFcntlStillWorks() throws {
        let result = try attempt("fcntl_ordinary")
        #expect(!result.blocked && result.detail.hasPrefix("fcntl ok"), "\(result.detail)")
    }

    /// Walking the numbers no syscall has cannot multiply the per-name allowance of recorded
    /// denials: they share one, and the rest are counted.
    @Test func unknownSyscallNumbersShareOneAllowance() throws {
        let result = try attempt("syscall_walk", "600")
        #expect(result.blocked, "\(result.detail)")
        let unknown = result.syscalls.filter { $0["syscall"]?.stringValue?.hasPrefix("syscall_") == true }
        #expect(unknown.count <= 100, "\(unknown.count) unknown syscalls recorded one by one")
        #expect(unknown.count >= 1)
        let final = result.events.last { $0["kind"] == "syscall.summary" && $0["payload"]?["final"] == true }?["payload"]
        #expect(final?["unrecorded_denials"]?["syscall_unknown"]?.intValue == Int64(600 - unknown.count), "\(String(describing: final))")
    }

    /// An exec's huge argv is recorded up to its cap, with what was cut said.
    @Test func aHugeCommandLineIsRecordedCapped() throws {
        let result = try attempt("huge_argv")
        let exec = try #require(result.syscall("execve", decision: "allow") { $0["paths"]?.arrayValue?.first == "/bin/true" }, "\(result.syscalls.count)")
        let recorded = (exec["argv"]?.arrayValue ?? []).compactMap(\.stringValue).reduce(0) { $0 + $1.utf8.count }
        #expect(recorded <= 4096 + 8, "\(recorded) bytes of argv recorded")
        #expect(exec["argv_cut"]?["words"]?.intValue == 61 && exec["argv_cut"]?["bytes"]?.intValue == 9 + 60 * 4000, "\(exec["argv_cut"] ?? .null)")
    }

    // MARK: kernel attack surface

    @Test(arguments: [("io_uring", "io_uring_setup"), ("bpf", "bpf"), ("perf_event_open", "perf_event_open"), ("keyctl", "keyctl")])
    func kernelAttackSurfaceIsDeniedAndAudited(_ attack: String, _ syscall: String) throws {
        let result = try attempt(attack)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall(syscall, decision: "deny EPERM") != nil, "\(result.syscalls)")
    }

    @Test(arguments: ["i386", "x32"])
    func otherSyscallABIsKillTheAgentAndTheExitSaysSo(_ abi: String) throws {
        let compiler = try #require(ForeignABITests.compiler(), "no C compiler")
        let dir = temporaryDirectory("warden-abi")
        let build = try runCommand(compiler, ["-O0", "-o", dir + "/probe", fixtures + "/foreign-abi.c"])
        try #require(build.status == 0, "\(build.stderr)")
        let daemon = try DaemonHarness(arguments: ["--policy-dir", try Self.tightPolicies()])
        let summary = try daemon.runScenario(Self.escapeScenario, model: "scripted/compliant",
                                             extra: ["--agent-command", "/opt/probe/probe \(abi)", "--bind-ro", "\(dir):/opt/probe"])
        let runID = try #require(summary["run_id"]?.stringValue)
        let stdout = try String(contentsOfFile: "\(daemon.stateDirectory)/runs/\(runID)/agents/agent-1.stdout", encoding: .utf8)
        #expect(stdout.contains("before") && !stdout.contains("survived"), "\(stdout)")
        let exit = try #require(try daemon.events(run: runID).first { $0["kind"] == "agent.exit" }?["payload"])
        #expect(exit["signal"] == "SIGSYS", "\(exit)")
    }

    // MARK: other processes

    @Test func ptraceIsDeniedAndAudited() throws {
        let result = try attempt("ptrace")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("ptrace", decision: "deny EPERM") != nil)
    }

    @Test func processVMWritevIsDeniedAndAudited() throws {
        let result = try attempt("process_vm_writev")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("process_vm_writev", decision: "deny EPERM") != nil)
    }

    @Test func procPIDMemCannotBeOpenedAndTheAttemptIsAudited() throws {
        let result = try attempt("proc_mem")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.touched("openat", path: "/proc/1/mem"), "\(result.syscalls)")
    }

    @Test func hostFilesOfOtherRunsAreNotVisible() throws {
        // The daemon's own audit database: on the host, never inside a sandbox.
        let result = try attempt("other_sandbox_files") { $0.auditPath }
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("execve", decision: "allow") { $0["argv"] == ["/bin/cat", .string(result.daemon.auditPath)] } != nil)
    }

    @Test func killingAProcessOutsideFailsAndIsAudited() throws {
        let result = try attempt("kill_outside") { String($0.process.processIdentifier) }
        #expect(result.blocked, "\(result.detail)")
        #expect(result.daemon.process.isRunning)
        #expect(result.syscall("kill", decision: "allow") { $0["target_pid"]?.intValue == Int64(result.daemon.process.processIdentifier) } != nil)
    }

    // MARK: namespaces and mounts

    @Test(arguments: [("mount", "mount"), ("unshare_user", "unshare"), ("setns", "setns")])
    func namespaceSyscallsAreDeniedAndAudited(_ attack: String, _ syscall: String) throws {
        let result = try attempt(attack)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall(syscall, decision: "deny EPERM") != nil, "\(result.syscalls)")
    }

    @Test func clone3AnswersENOSYSAndIsAudited() throws {
        let result = try attempt("clone3")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("clone3", decision: "deny ENOSYS") != nil)
    }

    @Test func tiocstiIsDeniedAndAudited() throws {
        let result = try attempt("tiocsti")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("ioctl", decision: "deny EPERM") { $0["request"] == "0x5412" } != nil, "\(result.syscalls)")
    }

    // MARK: files

    @Test(arguments: [("read_only_bind", "/usr/bin/warden-was-here"), ("proc_sys", "/proc/sys/kernel/hostname"),
                      ("release_agent", "/sys/fs/cgroup/release_agent")])
    func writesOutsideTheWritableViewFailAndAreAudited(_ attack: String, _ path: String) throws {
        let result = try attempt(attack)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.touched("openat", path: path), "\(result.syscalls)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/warden-was-here"))
    }

    @Test func symlinkInTmpDoesNotReachTheHost() throws {
        let secret = temporaryDirectory("warden-secret") + "/secret.txt"
        try "host secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let result = try attempt("symlink_escape", secret)
        #expect(result.blocked, "\(result.detail)")
        #expect(result.syscall("symlink", decision: "allow") { $0["target"]?.stringValue == secret } != nil, "\(result.syscalls)")
    }

    // MARK: resources

    /// The attacks below that the kernel only refuses (a fork, an open, a write) go on holding
    /// what they took for 20 s; under the default `on_limit: stop` wardend stops them at once.
    func expectStoppedAtLimit(_ result: Attempt, _ limit: String, ended prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let reached = result.events.filter { $0["kind"] == "limit.reached" }.compactMap { $0["payload"] }
        #expect(reached.count == 1 && reached.first?["limit"]?.stringValue == limit && reached.first?["action"] == "stop",
                "\(reached)", sourceLocation: sourceLocation)
        #expect(result.exit?["ended"]?.stringValue?.hasPrefix(prefix) == true, "\(String(describing: result.exit))", sourceLocation: sourceLocation)
        // Killed: had it been let be, it would have released what it held and exited 0.
        #expect(result.exit?["signal"] == "SIGKILL", "\(String(describing: result.exit))", sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: CgroupLimitTests.hasCgroups, "needs a pids controller"))
    func forkBombIsHeldByPidsMaxAndStopped() throws {
        let result = try attempt("fork_bomb")
        #expect(result.blocked, "\(result.detail)")
        #expect((result.exit?["cgroup_events"]?["pids_max"]?.intValue ?? 0) >= 1, "\(String(describing: result.exit))")
        expectStoppedAtLimit(result, "processes", ended: "resource_limit: processes")
    }

    /// Under `on_limit: contain` the limit holds and the agent carries on; the event is audited
    /// once, and the agent ends on its own.
    @Test(.enabled(if: CgroupLimitTests.hasCgroups, "needs a pids controller"))
    func underContainAForkBombIsHeldButNotStopped() throws {
        let policies = try policiesCopy(editing: ["sandbox/default.yaml": [("  pids: 512", "  pids: 64"), ("on_limit: stop", "on_limit: contain")]])
        let daemon = try DaemonHarness(arguments: ["--policy-dir", policies])
        let summary = try daemon.runScenario(Self.escapeScenario, model: "scripted/compliant",
                                             extra: ["--agent-command", "/usr/bin/python3 /opt/agent/escape.py fork_bomb 2", "--bind-ro", "\(fixtures):/opt/agent"])
        let events = try daemon.events(run: try #require(summary["run_id"]?.stringValue))
        let reached = events.filter { $0["kind"] == "limit.reached" }.compactMap { $0["payload"] }
        #expect(reached.count == 1 && reached.first?["limit"] == "processes" && reached.first?["action"] == "contain", "\(reached)")
        let exit = try #require(events.first { $0["kind"] == "agent.exit" }?["payload"])
        #expect(exit["ended"] == "exited 0", "\(exit)")
        #expect((exit["cgroup_events"]?["pids_max"]?.intValue ?? 0) >= 1, "\(exit)")
    }

    @Test(.enabled(if: CgroupLimitTests.hasCgroups, "needs a memory controller"))
    func memoryHogIsKilledByMemoryMax() throws {
        let result = try attempt("memory_hog")
        #expect(result.probe == nil, "the hog survived: \(result.detail)")
        #expect(result.exit?["signal"] == "SIGKILL", "\(String(describing: result.exit))")
        #expect(result.exit?["ended"]?.stringValue?.hasPrefix("resource_limit: memory") == true, "\(String(describing: result.exit))")
        #expect((result.exit?["cgroup_events"]?["oom_kill"]?.intValue ?? 0) >= 1, "\(String(describing: result.exit))")
    }

    @Test func fileLargerThanFSIZEFails() throws {
        let result = try attempt("big_file")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.detail.contains("EFBIG"), "\(result.detail)")
        #expect(result.touched("openat", path: "/tmp/big"))
    }

    @Test func fillingTmpStopsAtItsSizeLimit() throws {
        let result = try attempt("tmp_filler")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.detail.hasPrefix("ENOSPC"), "\(result.detail)")
        // tmp_size is 64M: what was written before ENOSPC fits in it.
        let written = Int(result.detail.split(separator: " ").dropFirst(2).first ?? "") ?? .max
        #expect(written <= 64, "\(result.detail)")
        expectStoppedAtLimit(result, "tmp", ended: "resource_limit: disk (/tmp is full")
    }

    /// A busy loop is stopped at the CPU-time limit (3 s under the tight policies) and the
    /// agent's end says why.
    @Test func busyLoopIsStoppedAtTheCPULimit() throws {
        let result = try attempt("busy_loop")
        #expect(result.detail == "spinning")
        #expect(result.exit?["ended"]?.stringValue?.hasPrefix("resource_limit: cpu time") == true, "\(String(describing: result.exit))")
    }

    /// While one agent bombs forks, another spins and a third hogs memory, an ordinary agent of
    /// the same daemon is served and judged as if alone.
    @Test(.enabled(if: CgroupLimitTests.hasCgroups, "needs pids and memory controllers"))
    func neighboursAreUnaffectedByAbuse() throws {
        let daemon = try DaemonHarness(arguments: ["--policy-dir", try Self.tightPolicies()])
        var abusers: [String: String] = [:]
        for attack in ["fork_bomb", "busy_loop", "memory_hog"] {
            let started = try daemon.ctl(["run", Self.escapeScenario, "--model", "scripted/compliant", "--detach",
                                          "--agent-command", "/usr/bin/python3 /opt/agent/escape.py \(attack)", "--bind-ro", "\(fixtures):/opt/agent"])
            #expect(started.status == 0, "\(started.stderr)")
            abusers[attack] = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let normal = try daemon.runScenario(model: "scripted/compliant")
        #expect(verdicts(normal) == ["agent-1": ["complied"]])
        #expect(normal["state"] == "completed")
        for (attack, run) in abusers {
            let events = try daemon.eventsWhenEnded(run: run, timeout: 60)
            #expect(events.contains { $0["kind"] == "run.end" }, "\(attack): the run did not end")
            let ended = events.first { $0["kind"] == "agent.exit" }?["payload"]?["ended"]?.stringValue ?? ""
            switch attack {
            case "busy_loop": #expect(ended.hasPrefix("resource_limit: cpu time"), "\(attack): \(ended)")
            case "memory_hog": #expect(ended.hasPrefix("resource_limit: memory"), "\(attack): \(ended)")
            default: #expect(ended.hasPrefix("resource_limit: processes"), "\(attack): \(ended)")
            }
        }
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
    }

    @Test func fdExhaustionStopsAtNOFILE() throws {
        let result = try attempt("fd_exhaustion")
        #expect(result.blocked, "\(result.detail)")
        #expect(result.detail.contains("EMFILE"))
        expectCommandLogged(result, "fd_exhaustion")
        expectStoppedAtLimit(result, "open_files", ended: "resource_limit: open files")
    }

    @Test func noFileDescriptorLeaksIntoTheSandbox() throws {
        let result = try attempt("leaked_fd")
        #expect(result.blocked, "\(result.detail)")
        expectCommandLogged(result, "leaked_fd")
    }
}
