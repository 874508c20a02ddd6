import CSeccomp
import Foundation

/// Compiles a `SeccompPolicy` with libseccomp into classic BPF programs for the native
/// architecture. Usually one program; a second, default-allow "overlay" program carries the
/// argument-conditioned denials of syscalls the main program allows unconditionally (libseccomp
/// lets an unconditional allow override them in one filter, and the kernel applies the most
/// restrictive result of stacked filters, so the overlay is the faithful way to say
/// "ioctl, except TIOCSTI").
public enum SeccompCompiler {
    public struct Program: Sendable, Equatable {
        public var filters: [[UInt8]]
        public var instructionCount: Int { filters.reduce(0) { $0 + $1.count / 8 } }
    }

    public static func compile(_ policy: SeccompPolicy) throws(SandboxError) -> Program {
        let unconditional = Set(policy.allow + policy.rules.filter { $0.conditions.isEmpty && $0.action == .allow }.map(\.syscall))
        let overlayRules = policy.rules.filter { !$0.conditions.isEmpty && $0.action != .allow && unconditional.contains($0.syscall) }
        let mainRules = policy.rules.filter { rule in !overlayRules.contains(rule) }

        var filters: [[UInt8]] = []
        let main = try build(policy: policy, defaultAction: policy.defaultAction, allow: policy.allow, rules: mainRules)
        filters.append(main)
        if !overlayRules.isEmpty {
            filters.append(try build(policy: policy, defaultAction: .allow, allow: [], rules: overlayRules))
        }
        return Program(filters: filters)
    }

    static func rawAction(_ action: SeccompAction) -> UInt32 {
        switch action {
        case .allow: return warden_scmp_act_allow()
        case .errno(let e): return warden_scmp_act_errno(UInt16(e))
        case .killProcess: return warden_scmp_act_kill_process()
        case .log: return warden_scmp_act_log()
        }
    }

    static func syscallNumber(_ name: String, policy: SeccompPolicy) throws(SandboxError) -> Int32 {
        let number = seccomp_syscall_resolve_name(name)
        guard number != __NR_SCMP_ERROR else {
            let place = policy.lines[name].map { "\(policy.file):\($0)" } ?? policy.file
            throw SandboxError(.seccomp, "\(place): '\(name)' is not a syscall libseccomp knows on this architecture")
        }
        return number
    }

    private static func build(policy: SeccompPolicy, defaultAction: SeccompAction, allow: [String],
                              rules: [SeccompRule]) throws(SandboxError) -> [UInt8] {
        guard let ctx = seccomp_init(rawAction(defaultAction)) else {
            throw SandboxError(.seccomp, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, rawAction(policy.badArchAction))
        guard rc == 0 else { throw SandboxError(.seccomp, "cannot set the bad-architecture action: \(String(cString: strerror(-rc)))") }
        // Denials must be visible to the process (never silently skipped).
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)

        for name in allow {
            rc = seccomp_rule_add_array(ctx, warden_scmp_act_allow(), try syscallNumber(name, policy: policy), 0, nil)
            guard rc == 0 else { throw ruleError(name, rc, policy) }
        }
        for name in policy.deny { _ = try syscallNumber(name, policy: policy) }
        for rule in rules {
            let number = try syscallNumber(rule.syscall, policy: policy)
            let action = rawAction(rule.action)
            if action == rawAction(defaultAction), rule.conditions.isEmpty { continue }
            var comparisons = rule.conditions.map { condition in
                warden_scmp_arg(condition.index, compareOp(condition.op),
                                condition.op == .masked_eq ? condition.mask : condition.value,
                                condition.op == .masked_eq ? condition.value : 0)
            }
            rc = comparisons.withUnsafeMutableBufferPointer { buffer in
                seccomp_rule_add_array(ctx, action, number, UInt32(buffer.count), buffer.baseAddress)
            }
            guard rc == 0 else { throw ruleError(rule.syscall, rc, policy) }
        }
        return try export(ctx)
    }

    private static func compareOp(_ op: SeccompArgCondition.Op) -> scmp_compare {
        switch op {
        case .eq: return SCMP_CMP_EQ
        case .ne: return SCMP_CMP_NE
        case .lt: return SCMP_CMP_LT
        case .le: return SCMP_CMP_LE
        case .gt: return SCMP_CMP_GT
        case .ge: return SCMP_CMP_GE
        case .masked_eq: return SCMP_CMP_MASKED_EQ
        }
    }

    private static func ruleError(_ name: String, _ rc: Int32, _ policy: SeccompPolicy) -> SandboxError {
        let place = policy.lines[name].map { "\(policy.file):\($0)" } ?? policy.file
        return SandboxError(.seccomp, "\(place): libseccomp refused the rule for '\(name)': \(String(cString: strerror(-rc)))")
    }

    private static func export(_ ctx: scmp_filter_ctx) throws(SandboxError) -> [UInt8] {
        guard let file = tmpfile() else { throw SandboxError(.seccomp, "cannot create a temporary file for the BPF program") }
        defer { fclose(file) }
        let fd = fileno(file)
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw SandboxError(.seccomp, "seccomp_export_bpf failed: \(String(cString: strerror(-rc)))") }
        let size = lseek(fd, 0, SEEK_END)
        lseek(fd, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            guard n > 0 else { throw SandboxError(.seccomp, "cannot read back the BPF program") }
            offset += n
        }
        return bytes
    }
}
