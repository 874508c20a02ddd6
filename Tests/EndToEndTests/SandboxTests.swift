import Foundation
import Testing
import WardenCore

/// A copy of the default sandbox policy with one top-level section (`landlock`, `cgroup`)
/// replaced by `value`, and the seccomp policy named by absolute path.
func sandboxPolicy(replacing section: String, with value: String) throws -> String {
    let dir = temporaryDirectory("warden-policy")
    let original = try String(contentsOfFile: repositoryRoot + "/policies/sandbox/default.yaml", encoding: .utf8)
    var kept: [Substring] = []
    var skipping = false
    for line in original.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix(section + ":") { skipping = true; continue }
        if skipping, line.hasPrefix(" ") { continue }
        skipping = false
        kept.append(line)
    }
    var text = kept.joined(separator: "\n")
    text = text.replacingOccurrences(of: "seccomp: seccomp/default.yaml", with: "seccomp: \(repositoryRoot)/policies/seccomp/default.yaml")
    text += "\n\(section): \(value)\n"
    try text.write(toFile: dir + "/sandbox.yaml", atomically: true, encoding: .utf8)
    return dir + "/sandbox.yaml"
}

/// `warden-sandbox` on its own, with the default policies found from the checkout.
func sandboxed(_ arguments: [String]) throws -> CommandResult {
    try runCommand(Binaries.path("warden-sandbox"), ["--"] + arguments)
}

func hostNamespace(_ name: String) throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(name)")
}

@Suite struct SandboxTests {
    @Test func processStatusShowsSeccompAndNoNewPrivs() throws {
        let result = try sandboxed(["/bin/cat", "/proc/self/status"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 1).map(String.init) }
        let fields = Dictionary(lines.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }, uniquingKeysWith: { a, _ in a })
        #expect(fields["Seccomp:"] == "2")
        #expect(fields["NoNewPrivs:"] == "1")
        #expect(fields["CapEff:"] == "0000000000000000")
        #expect(fields["CapBnd:"] == "0000000000000000")
        #expect(fields["Uid:"]?.hasPrefix("1000") == true)
    }

    @Test func everyNamespaceDiffersFromTheHost() throws {
        let names = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"]
        let result = try sandboxed(["/bin/sh", "-c", names.map { "readlink /proc/self/ns/\($0)" }.joined(separator: "; ")])
        #expect(result.status == 0, "\(result.stderr)")
        let inside = result.stdout.split(separator: "\n").map(String.init)
        #expect(inside.count == names.count)
        for (name, id) in zip(names, inside) {
            #expect(id != (try hostNamespace(name)), "\(name) namespace is the host's")
        }
    }

    @Test func onlyLoopbackExists() throws {
        let result = try sandboxed(["/bin/cat", "/proc/net/dev"])
        #expect(result.status == 0)
        let interfaces = result.stdout.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        #expect(interfaces == ["lo"])
    }

    @Test func cannotWriteOutsideTmp() throws {
        let marker = "warden-escape-\(UUID().uuidString.prefix(8))"
        let script = """
            for dir in / /etc /usr /usr/bin /proc/sys/kernel /dev /opt /root /var; do
              if echo x > "$dir/\(marker)" 2>/dev/null; then echo "WROTE $dir"; fi
            done
            echo ok > /tmp/\(marker) && cat /tmp/\(marker)
            """
        let result = try sandboxed(["/bin/sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("WROTE"))
        #expect(result.stdout.contains("ok"))
        for dir in ["/", "/etc", "/usr", "/usr/bin", "/tmp"] {
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(marker)"), "the file leaked to the host's \(dir)")
        }
    }

    @Test func seesOnlyItsOwnProcesses() throws {
        let result = try sandboxed(["/bin/sh", "-c", "ls /proc | grep -E '^[0-9]+$' | wc -l; echo $$"])
        let numbers = result.stdout.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(numbers.count == 2)
        #expect((numbers.first ?? 99) <= 5)  // init, the shell, ls, grep, wc
        #expect(numbers.last == 2)            // the command runs as pid 2 under a reaping pid 1
    }

    /// Syscall attacks: each is tried for real inside the sandbox and must fail as the policy says.
    @Test func deniedSyscallsFail() throws {
        let probe = """
            import ctypes, errno, socket
            libc = ctypes.CDLL(None, use_errno=True)
            def sys(name, nr, *args):
                r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
                print(name, r, errno.errorcode.get(ctypes.get_errno(), 0) if r == -1 else "OK")
            sys("unshare_user", 272, 0x10000000)
            sys("mount", 165, 0, 0, 0, 0, 0)
            sys("ptrace_attach", 101, 16, 1, 0, 0)
            sys("bpf", 321, 0, 0, 0)
            sys("io_uring_setup", 425, 8, 0)
            sys("perf_event_open", 298, 0, 0, -1, -1, 0)
            sys("keyctl", 250, 0, 0, 0)
            sys("setns", 308, 0, 0)
            sys("clone_newns", 56, 0x00020000 | 17, 0, 0, 0, 0)
            sys("clone3", 435, 0, 0)
            sys("personality_set", 135, 0x0040000)
            sys("tiocsti", 16, 0, 0x5412, 0)
            sys("tiocsti_high_bits", 16, 0, 0x100005412, 0)
            sys("getpid", 39)
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM); print("inet OK")
            except OSError as e:
                print("inet", -1, errno.errorcode[e.errno])
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); print("unix 0 OK")
            """
        let result = try sandboxed(["/usr/bin/python3", "-c", probe])
        #expect(result.status == 0, "\(result.stderr)")
        var outcome: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.count == 3 { outcome[words[0]] = words[2] }
        }
        for name in ["unshare_user", "mount", "ptrace_attach", "bpf", "io_uring_setup", "perf_event_open", "keyctl", "setns",
                     "clone_newns", "personality_set", "tiocsti", "tiocsti_high_bits", "inet"] {
            #expect(outcome[name] == "EPERM", "\(name): \(outcome[name] ?? "no output")")
        }
        #expect(outcome["clone3"] == "ENOSYS")
        #expect(outcome["getpid"] == "OK")
        #expect(outcome["unix"] == "OK")
    }

    @Test func reportsWhenTheCommandCannotBeFound() throws {
        let result = try sandboxed(["no-such-program-here"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("not found on the sandbox PATH"))
    }

    @Test func bindsReadOnlyPathsOnRequest() throws {
        let dir = temporaryDirectory("warden-bind")
        try "hello from the host\n".write(toFile: dir + "/note.txt", atomically: true, encoding: .utf8)
        let result = try runCommand(Binaries.path("warden-sandbox"),
                                    ["--bind-ro", "\(dir):/opt/data", "--", "/bin/sh", "-c", "cat /opt/data/note.txt; echo x > /opt/data/new 2>/dev/null || echo read-only"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hello from the host\nread-only\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/new"))
    }

    @Test func badPolicyFileIsRefusedWithItsLine() throws {
        let dir = temporaryDirectory("warden-policy")
        try "allow:\n  - read\n  - no_such_call\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--seccomp", dir + "/bad.yaml", "--", "/bin/true"])
        #expect(result.status == 125)
        #expect(result.stderr.contains("bad.yaml:3"))
    }
}

@Suite struct ForeignABITests {
    /// The C compiler that ships with the Swift toolchain (or any on PATH).
    static func compiler() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":") + ["/opt/swift/usr/bin"] {
            for name in ["clang", "cc", "gcc"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        return nil
    }

    @Test(arguments: ["i386", "x32"])
    func otherSyscallABIsKillTheProcess(_ abi: String) throws {
        let compiler = try #require(Self.compiler(), "a C compiler is needed to build the probe")
        let dir = temporaryDirectory("warden-abi")
        let build = try runCommand(compiler, ["-O0", "-o", dir + "/probe", fixtures + "/foreign-abi.c"])
        try #require(build.status == 0, "\(build.stderr)")
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--bind-ro", "\(dir)/probe:/opt/probe", "--", "/opt/probe", abi])
        #expect(result.stdout == "before\n")
        #expect(result.status == 128 + 31)  // SIGSYS
    }
}

@Suite struct BindPlacementTests {
    /// A host path under /tmp (a checkout or venv there) binds onto the sandbox's private /tmp.
    @Test func bindUnderTmpWorks() throws {
        let dir = temporaryDirectory("warden-tmpbind")
        try "under tmp\n".write(toFile: dir + "/note.txt", atomically: true, encoding: .utf8)
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--bind-ro", dir, "--", "/bin/cat", dir + "/note.txt"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "under tmp\n")
    }
}

@Suite struct LandlockTests {
    /// Landlock allows the sandbox's own view and nothing else: the bare root of the sandbox
    /// (which no mount hides) cannot be listed, the system binds can, /tmp can be written.
    @Test func restrictsToTheSandboxView() throws {
        let probe = """
            import os
            try:
                os.listdir("/"); print("root listed")
            except PermissionError:
                print("root denied")
            print("usr", len(os.listdir("/usr")) > 0)
            open("/tmp/ok", "w").write("x"); print("tmp written")
            """
        let result = try sandboxed(["/usr/bin/python3", "-c", probe])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "root denied\nusr True\ntmp written\n")
    }

    func policy(_ landlock: String) throws -> String { try sandboxPolicy(replacing: "landlock", with: landlock) }

    @Test func refusesBelowTheMinimumABIUnlessBestEffort() throws {
        let strict = try runCommand(Binaries.path("warden-sandbox"), ["--policy", try policy("{min_abi: 60}"), "--", "/bin/true"])
        #expect(strict.status == 125)
        #expect(strict.stderr.contains("needs Landlock ABI 60"))
        let lenient = try runCommand(Binaries.path("warden-sandbox"), ["--policy", try policy("{min_abi: 60, best_effort: true}"),
                                                                       "--report", "--", "/bin/true"])
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stderr.contains("\"landlock\":\"ABI "))
    }
}

@Suite struct CgroupLimitTests {
    /// The default policy with small limits.
    func policy(pids: Int, memory: String) throws -> String {
        try sandboxPolicy(replacing: "cgroup", with: "{pids: \(pids), memory: \(memory), required: true}")
    }

    static let hasCgroups = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/cgroup.procs")
        || ((try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8)) ?? "").contains("pids")

    /// A fork bomb inside the sandbox runs into pids.max and stops there.
    @Test(.enabled(if: getuid() == 0 && hasCgroups, "needs root and a pids controller"))
    func forkBombIsContained() throws {
        let bomb = """
            import os, time
            children = 0
            try:
                for _ in range(200):
                    if os.fork() == 0:
                        time.sleep(5); os._exit(0)
                    children += 1
            except OSError as e:
                print("stopped", children, e.errno)
            """
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--policy", try policy(pids: 16, memory: "256M"), "--report",
                                                                      "--", "/usr/bin/python3", "-c", bomb])
        #expect(result.stderr.contains("pids=16"), "\(result.stderr)")
        let words = result.stdout.split(separator: " ")
        #expect(words.first == "stopped", "\(result.stdout)")
        #expect((words.dropFirst().first.flatMap { Int($0) } ?? 99) < 16)
    }

    /// A memory hog is killed by the cgroup's limit, not the host's.
    @Test(.enabled(if: getuid() == 0 && hasCgroups, "needs root and a memory controller"))
    func memoryHogIsKilled() throws {
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--policy", try policy(pids: 64, memory: "64M"), "--",
                                                                      "/usr/bin/python3", "-c", "b = b'x' * (300 * 1024 * 1024); print('survived')"])
        #expect(!result.stdout.contains("survived"))
        #expect(result.status == 128 + 9 || result.status == 1, "status \(result.status): \(result.stderr)")
    }
}
