import Glibc

/// What a seccomp rule does with a matching syscall.
public enum SeccompAction: Sendable, Equatable, CustomStringConvertible {
    case allow
    case errno(Int32)
    case killProcess
    case log

    public static let errnoNames: [String: Int32] = [
        "EPERM": EPERM, "ENOSYS": ENOSYS, "EACCES": EACCES, "EINVAL": EINVAL, "ENOTTY": ENOTTY, "EROFS": EROFS, "EOPNOTSUPP": EOPNOTSUPP,
    ]

    /// `EPERM` for EPERM, else the number.
    public static func errnoName(_ value: Int32) -> String {
        errnoNames.first { $0.value == value }?.key ?? String(value)
    }

    public var description: String {
        switch self {
        case .allow: return "allow"
        case .killProcess: return "kill_process"
        case .log: return "log"
        case .errno(let e): return "errno \(SeccompAction.errnoNames.first { $0.value == e }?.key ?? String(e))"
        }
    }
}

/// A comparison on one syscall argument.
public struct SeccompArgCondition: Sendable, Equatable {
    public enum Op: String, Sendable, CaseIterable { case eq, ne, lt, le, gt, ge, masked_eq }
    public var index: UInt32
    public var op: Op
    public var value: UInt64
    public var mask: UInt64

    public init(index: UInt32, op: Op, value: UInt64, mask: UInt64) {
        (self.index, self.op, self.value, self.mask) = (index, op, value, mask)
    }
}

public struct SeccompRule: Sendable, Equatable {
    public var syscall: String
    public var action: SeccompAction
    public var conditions: [SeccompArgCondition]
    public var line: Int?

    public init(syscall: String, action: SeccompAction, conditions: [SeccompArgCondition], line: Int?) {
        (self.syscall, self.action, self.conditions, self.line) = (syscall, action, conditions, line)
    }
}

/// A syscall the daemon's supervisor sees before it runs (SECCOMP_RET_USER_NOTIF): it is
/// audited with its arguments and answered with `action` (`allow` or `errno NAME`).
public struct SupervisedSyscall: Sendable, Equatable {
    public var syscall: String
    public var action: SeccompAction
    public var line: Int?

    public init(syscall: String, action: SeccompAction, line: Int?) {
        (self.syscall, self.action, self.line) = (syscall, action, line)
    }
}

/// A default-deny seccomp policy, read from `policies/seccomp/*.yaml`:
///
/// ```yaml
/// default_action: errno EPERM
/// bad_arch_action: kill_process     # i386 and x32 entry
/// allow: [read, write, ...]          # allowed unconditionally
/// deny: [ptrace, bpf, ...]           # denied (documents intent; must not also be allowed)
/// supervise: [unlink, {syscall: kill, action: allow}, ...]   # audited by wardend's supervisor
/// rules:                             # per-syscall actions, optionally on arguments
///   - {syscall: clone3, action: errno ENOSYS}
///   - syscall: socket
///     action: allow
///     args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: AF_UNIX}]
/// ```
/// Values may be integers or symbolic names (`AF_UNIX`, `CLONE_NEWNS|CLONE_NEWUSER`, `TIOCSTI`).
public struct SeccompPolicy: Sendable, Equatable {
    public var file: String
    public var defaultAction: SeccompAction
    public var badArchAction: SeccompAction
    public var allow: [String]
    public var deny: [String]
    public var rules: [SeccompRule]
    /// Syscalls routed to the supervisor. Under `wardend` every denial also passes through the
    /// supervisor, so that it is audited by name; `warden-sandbox` on its own has no supervisor
    /// and applies these actions in the filter (and reports supervision as not applied).
    public var supervise: [SupervisedSyscall]
    /// Source lines of syscall names, for error messages from the compiler.
    public var lines: [String: Int]

    public static let constants: [String: UInt64] = [
        "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
        "CLONE_NEWNS": 0x0002_0000, "CLONE_NEWCGROUP": 0x0200_0000, "CLONE_NEWUTS": 0x0400_0000,
        "CLONE_NEWIPC": 0x0800_0000, "CLONE_NEWUSER": 0x1000_0000, "CLONE_NEWPID": 0x2000_0000,
        "CLONE_NEWNET": 0x4000_0000, "CLONE_NEWTIME": 0x80,
        "TIOCSTI": 0x5412, "TIOCLINUX": 0x541C, "PERSONALITY_QUERY": 0xFFFF_FFFF,
        "TCGETS": 0x5401, "TCSETS": 0x5402, "TCSETSW": 0x5403, "TCSETSF": 0x5404, "TIOCGPGRP": 0x540F,
        "TIOCSPGRP": 0x5410, "TIOCGWINSZ": 0x5413, "TIOCSWINSZ": 0x5414, "FIONREAD": 0x541B, "FIONBIO": 0x5421,
        "FIONCLEX": 0x5450, "FIOCLEX": 0x5451, "FIOASYNC": 0x5452, "TIOCGPTN": 0x8004_5430,
        "FICLONE": 0x4004_9409, "FS_IOC_GETFLAGS": 0x8008_6601,
        "O_WRONLY": 0o1, "O_RDWR": 0o2, "O_CREAT": 0o100, "O_TRUNC": 0o1000, "O_APPEND": 0o2000,
    ]

    public init(file: String, defaultAction: SeccompAction, badArchAction: SeccompAction, allow: [String], deny: [String],
                rules: [SeccompRule], supervise: [SupervisedSyscall], lines: [String: Int]) {
        self.file = file
        self.defaultAction = defaultAction
        self.badArchAction = badArchAction
        self.allow = allow
        self.deny = deny
        self.rules = rules
        self.supervise = supervise
        self.lines = lines
    }
}
