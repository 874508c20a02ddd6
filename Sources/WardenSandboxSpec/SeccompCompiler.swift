import WardenWire
import CSeccomp
import Glibc

/// Compiles a `SeccompPolicy` with libseccomp into one classic BPF program for the native
/// architecture.
///
/// Two modes. `supervised` (under wardend): every syscall the policy denies, and every
/// supervised one, returns SECCOMP_RET_USER_NOTIF, so the daemon's supervisor sees it, audits it
/// by name and answers it from the `SupervisionTable` compiled alongside (denials with their
/// errno). Unsupervised (warden-sandbox on its own): denials are answered in the filter and
/// supervised syscalls get their policy action directly.
public enum SeccompCompiler {
    public struct Program: Sendable, Equatable {
        public var filters: [[UInt8]]
        /// How the supervisor answers each notification; nil for an unsupervised program.
        public var supervision: SupervisionTable?
        public var instructionCount: Int { filters.reduce(0) { $0 + $1.count / 8 } }

        public init(filters: [[UInt8]], supervision: SupervisionTable? = nil) {
            self.filters = filters
            self.supervision = supervision
        }
    }

    public static func compile(_ policy: SeccompPolicy, supervised: Bool = false) throws(SandboxError) -> Program {
        let notify = warden_scmp_act_notify()
        // A denial becomes a notification when supervised; kills stay in the kernel.
        func filterAction(_ action: SeccompAction) -> UInt32 {
            if supervised, case .errno = action { return notify }
            return rawAction(action)
        }
        guard let ctx = seccomp_init(filterAction(policy.defaultAction)) else {
            throw SandboxError(.seccomp, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        let rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, rawAction(policy.badArchAction))
        guard rc == 0 else { throw SandboxError(.seccomp, "cannot set the bad-architecture action: \(String(cString: strerror(-rc)))") }
        // Denials must be visible to the process (never silently skipped).
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)

        func add(_ name: String, _ action: UInt32, _ conditions: [SeccompArgCondition]) throws(SandboxError) {
            let number = try syscallNumber(name, policy: policy)
            var comparisons = conditions.map { condition in
                warden_scmp_arg(condition.index, compareOp(condition.op),
                                condition.op == .masked_eq ? condition.mask : condition.value,
                                condition.op == .masked_eq ? condition.value : 0)
            }
            let rc = comparisons.withUnsafeMutableBufferPointer { buffer in
                seccomp_rule_add_array(ctx, action, number, UInt32(buffer.count), buffer.baseAddress)
            }
            guard rc == 0 else { throw ruleError(name, rc, policy) }
        }

        for name in policy.allow { try add(name, warden_scmp_act_allow(), []) }
        for name in policy.deny { _ = try syscallNumber(name, policy: policy) }
        for rule in policy.rules {
            let action = filterAction(rule.action)
            if action == filterAction(policy.defaultAction), rule.conditions.isEmpty { continue }
            try add(rule.syscall, action, rule.conditions)
        }
        let conditionallyAllowed = Set(policy.rules.filter { $0.action == .allow && !$0.conditions.isEmpty }.map(\.syscall))
        for entry in policy.supervise {
            if supervised {
                // The default action (a denial) already notifies; a rule with the default's
                // action is refused by libseccomp, and would override the conditional allows.
                _ = try syscallNumber(entry.syscall, policy: policy)
            } else {
                // The default action already answers the rest of a conditionally allowed syscall.
                if entry.action == policy.defaultAction, conditionallyAllowed.contains(entry.syscall) { continue }
                try add(entry.syscall, rawAction(entry.action), [])
            }
        }
        let program = try export(ctx)
        return Program(filters: [program], supervision: supervised ? try SupervisionTable(policy: policy) : nil)
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
