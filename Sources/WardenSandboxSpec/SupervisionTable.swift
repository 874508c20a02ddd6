import WardenWire
import CSeccomp
import Glibc

/// How the supervisor answers a notification.
public enum SupervisorDecision: Sendable, Equatable {
    /// Let the kernel run the syscall as asked (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    case allow
    /// Fail it with this errno.
    case deny(Int32)
}

/// The supervisor's half of a compiled seccomp policy: for each syscall number that can reach
/// it, whether it is supervised (a world-changing syscall, audited and answered per policy) or
/// denied (audited, answered with the policy's errno).
///
/// Every decision here depends only on the syscall number and its scalar arguments, never on
/// memory the process could change after the check: path-based protection belongs to Landlock,
/// which the kernel enforces atomically. That is what makes `allow` → CONTINUE sound.
public struct SupervisionTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// True for the policy's `supervise` list; false for syscalls that only arrive denied.
        public var supervised: Bool
        public var decision: SupervisorDecision
        /// Conditional denials (`rules` with an errno and argument comparisons), first match wins.
        public var conditionalDenials: [ConditionalDenial]
    }

    public struct ConditionalDenial: Sendable, Equatable {
        public var conditions: [SeccompArgCondition]
        public var errno: Int32
    }

    public var entries: [Int32: Entry]
    public var defaultErrno: Int32

    init(policy: SeccompPolicy) throws(SandboxError) {
        guard case .errno(let defaultErrno) = policy.defaultAction else {
            throw SandboxError(.seccomp, "\(policy.file): a supervised policy needs `default_action: errno NAME`")
        }
        self.defaultErrno = defaultErrno
        entries = [:]
        for entry in policy.supervise {
            let number = try SeccompCompiler.syscallNumber(entry.syscall, policy: policy)
            let decision: SupervisorDecision
            if case .errno(let e) = entry.action { decision = .deny(e) } else { decision = .allow }
            entries[number] = Entry(name: entry.syscall, supervised: true, decision: decision, conditionalDenials: [])
        }
        for rule in policy.rules {
            guard case .errno(let e) = rule.action else { continue }
            let number = try SeccompCompiler.syscallNumber(rule.syscall, policy: policy)
            var entry = entries[number] ?? Entry(name: rule.syscall, supervised: false, decision: .deny(defaultErrno), conditionalDenials: [])
            if rule.conditions.isEmpty {
                entry.decision = .deny(e)
            } else {
                entry.conditionalDenials.append(ConditionalDenial(conditions: rule.conditions, errno: e))
            }
            entries[number] = entry
        }
    }

    /// The answer for syscall `number` with these raw arguments, and whether it is supervised.
    public func decide(number: Int32, arguments: [UInt64]) -> (name: String, supervised: Bool, decision: SupervisorDecision) {
        guard let entry = entries[number] else { return (Self.name(of: number), false, .deny(defaultErrno)) }
        for denial in entry.conditionalDenials where denial.conditions.allSatisfy({ $0.matches(arguments) }) {
            return (entry.name, entry.supervised, .deny(denial.errno))
        }
        return (entry.name, entry.supervised, entry.decision)
    }

    /// The syscall's name on the native architecture (`syscall_N` if libseccomp does not know it).
    public static func name(of number: Int32) -> String {
        guard let pointer = seccomp_syscall_resolve_num_arch(warden_scmp_arch_native(), number) else { return "syscall_\(number)" }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

extension SeccompArgCondition {
    /// The same comparison the kernel filter makes, on a notification's raw arguments.
    func matches(_ arguments: [UInt64]) -> Bool {
        guard Int(index) < arguments.count else { return false }
        let argument = arguments[Int(index)]
        switch op {
        case .eq: return argument == value
        case .ne: return argument != value
        case .lt: return argument < value
        case .le: return argument <= value
        case .gt: return argument > value
        case .ge: return argument >= value
        case .masked_eq: return argument & mask == value
        }
    }
}
