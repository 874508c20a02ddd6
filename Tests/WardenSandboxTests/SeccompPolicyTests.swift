import CSeccomp
import Foundation
import Testing
import WardenCore
@testable import WardenSandbox

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct SeccompPolicyTests {
    @Test func compilesTheDefaultPolicy() throws {
        let policy = try SeccompPolicy.load(contentsOf: repositoryRoot + "/policies/seccomp/default.yaml")
        #expect(policy.defaultAction == .errno(EPERM))
        #expect(policy.badArchAction == .killProcess)
        for dangerous in ["ptrace", "bpf", "io_uring_setup", "unshare", "setns", "mount", "perf_event_open", "keyctl", "kexec_load"] {
            #expect(policy.deny.contains(dangerous))
            #expect(!policy.allow.contains(dangerous))
        }
        for supervised in [false, true] {
            let program = try SeccompCompiler.compile(policy, supervised: supervised)
            #expect(program.filters.count == 1)
            #expect(program.filters.allSatisfy { !$0.isEmpty && $0.count % 8 == 0 })
            #expect((program.supervision != nil) == supervised)
        }
    }

    /// The supervisor answers as the policy says: world-changing syscalls are supervised and
    /// allowed, denials keep their errno, masked ioctl requests outside the allowlist are denied.
    @Test func supervisionTableAnswersPerPolicy() throws {
        let policy = try SeccompPolicy.load(contentsOf: repositoryRoot + "/policies/seccomp/default.yaml")
        let table = try #require(try SeccompCompiler.compile(policy, supervised: true).supervision)
        func decide(_ name: String, _ arguments: [UInt64] = [0, 0, 0, 0, 0, 0]) -> (String, Bool, SupervisorDecision) {
            let decision = table.decide(number: seccomp_syscall_resolve_name(name), arguments: arguments)
            return (decision.name, decision.supervised, decision.decision)
        }
        #expect(decide("unlinkat") == ("unlinkat", true, .allow))
        #expect(decide("utimensat") == ("utimensat", true, .allow))
        #expect(decide("execve") == ("execve", true, .allow))
        #expect(decide("ptrace") == ("ptrace", false, .deny(EPERM)))
        #expect(decide("io_uring_setup") == ("io_uring_setup", false, .deny(EPERM)))
        #expect(decide("clone3") == ("clone3", false, .deny(ENOSYS)))
        // TIOCSTI with garbage in the high word: the kernel would read 0x5412.
        #expect(decide("ioctl", [0, 0x1_0000_5412, 0, 0, 0, 0]) == ("ioctl", false, .deny(EPERM)))
    }

    @Test func refusesAConditionalDenialOfAnAllowedSyscall() {
        let error = #expect(throws: ConfigError.self) {
            try parse("allow: [read, ioctl]\nrules:\n  - syscall: ioctl\n    action: errno EPERM\n    args: [{index: 1, op: eq, value: TIOCSTI}]\n")
        }
        #expect(error?.message.contains("would never apply") == true)
        #expect(error?.line == 3)
    }

    @Test func refusesASyscallBothSupervisedAndAllowed() {
        let error = #expect(throws: ConfigError.self) { try parse("allow: [read, unlink]\nsupervise: [unlink]\n") }
        #expect(error?.message.contains("supervised and also listed under allow") == true)
        #expect(error?.line == 2)
    }

    func parse(_ yaml: String) throws(ConfigError) -> SeccompPolicy {
        try SeccompPolicy.parse(ConfigNode.parse(yaml, file: "test.yaml"))
    }

    @Test func refusesADefaultAllowPolicy() {
        let error = #expect(throws: ConfigError.self) { try parse("default_action: allow\nallow: [read]\n") }
        #expect(error?.field == "default_action")
        #expect(error?.line == 1)
    }

    @Test func refusesASyscallBothAllowedAndDenied() {
        let error = #expect(throws: ConfigError.self) { try parse("allow: [read, ptrace]\ndeny: [ptrace]\n") }
        #expect(error?.message.contains("both allowed and denied") == true)
    }

    @Test func namesAnUnknownSyscallWithItsLine() throws {
        let policy = try parse("allow:\n  - read\n  - frobnicate\n")
        let error = #expect(throws: SandboxError.self) { try SeccompCompiler.compile(policy) }
        #expect(error?.message.contains("test.yaml:3") == true)
        #expect(error?.message.contains("frobnicate") == true)
    }

    @Test func namesABadRuleField() {
        let error = #expect(throws: ConfigError.self) {
            try parse("allow: [read]\nrules:\n  - syscall: socket\n    action: allow\n    args: [{index: 9, op: eq, value: 1}]\n")
        }
        #expect(error?.field == "rules[0].args[0].index")
        #expect(error?.line == 5)
    }

    @Test func resolvesSymbolicConstants() throws {
        let policy = try parse("allow: [read]\nrules:\n  - syscall: clone\n    action: allow\n    args: [{index: 0, op: masked_eq, mask: CLONE_NEWUSER|CLONE_NEWNS, value: 0}]\n")
        #expect(policy.rules[0].conditions[0].mask == 0x1000_0000 | 0x0002_0000)
    }
}

@Suite struct SandboxPolicyTests {
    @Test func loadsTheDefaultPolicy() throws {
        let policy = try SandboxPolicy.load(contentsOf: repositoryRoot + "/policies/sandbox/default.yaml")
        #expect(policy.uid != 0)
        #expect(policy.readOnly.contains("/usr"))
        #expect(policy.rlimits["core"] == 0)
        #expect(policy.tmpSizeBytes == 64 << 20)
    }

    @Test func refusesRootInside() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-\(UUID().uuidString).yaml").path
        try "uid: 0\n".write(toFile: dir, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { try SandboxPolicy.load(contentsOf: dir) }
        #expect(error?.field == "uid")
    }

    @Test func refusesRelativeBinds() throws {
        #expect(throws: SandboxError.self) { try SandboxSpec.parseBind("relative/path") }
        #expect(throws: SandboxError.self) { try SandboxSpec.parseBind("/usr:/opt/../etc") }
        #expect(throws: SandboxError.self) { try SandboxSpec.parseBind("/does/not/exist/anywhere") }
        #expect(try SandboxSpec.parseBind("/usr:/opt/usr") == SandboxSpec.Bind(source: "/usr", target: "/opt/usr"))
    }
}
