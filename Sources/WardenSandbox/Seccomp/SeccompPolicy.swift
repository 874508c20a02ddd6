import Foundation
import WardenCore

/// What a seccomp rule does with a matching syscall.
public enum SeccompAction: Sendable, Equatable, CustomStringConvertible {
    case allow
    case errno(Int32)
    case killProcess
    case log

    static let errnoNames: [String: Int32] = [
        "EPERM": EPERM, "ENOSYS": ENOSYS, "EACCES": EACCES, "EINVAL": EINVAL, "ENOTTY": ENOTTY, "EROFS": EROFS, "EOPNOTSUPP": EOPNOTSUPP,
    ]

    /// Parses `allow`, `kill_process`, `log` or `errno NAME`.
    static func parse(_ node: ConfigNode) throws(ConfigError) -> SeccompAction {
        let text = try node.string().trimmingCharacters(in: .whitespaces)
        switch text {
        case "allow": return .allow
        case "kill_process", "kill": return .killProcess
        case "log": return .log
        default:
            let words = text.split(separator: " ")
            if words.count == 2, words[0] == "errno", let value = errnoNames[String(words[1])] { return .errno(value) }
            throw node.error("'\(text)' is not an action (allow, kill_process, log, errno EPERM|ENOSYS|EACCES|EINVAL|ENOTTY|EROFS|EOPNOTSUPP)")
        }
    }

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
}

public struct SeccompRule: Sendable, Equatable {
    public var syscall: String
    public var action: SeccompAction
    public var conditions: [SeccompArgCondition]
    public var line: Int?
}

/// A syscall the daemon's supervisor sees before it runs (SECCOMP_RET_USER_NOTIF): it is
/// audited with its arguments and answered with `action` (`allow` or `errno NAME`).
public struct SupervisedSyscall: Sendable, Equatable {
    public var syscall: String
    public var action: SeccompAction
    public var line: Int?
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

    public static func load(contentsOf path: String) throws(ConfigError) -> SeccompPolicy {
        try parse(ConfigNode.load(contentsOf: path))
    }

    public static func parse(_ root: ConfigNode) throws(ConfigError) -> SeccompPolicy {
        try root.checkKeys(["version", "description", "default_action", "bad_arch_action", "allow", "deny", "supervise", "rules"])
        var lines: [String: Int] = [:]
        func names(_ key: String) throws(ConfigError) -> [String] {
            guard let list = root.optional(key) else { return [] }
            var result: [String] = []
            for element in try list.elements() {
                let name = try element.string()
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !name.isEmpty else {
                    throw element.error("'\(name)' is not a syscall name")
                }
                if result.contains(name) { throw element.error("'\(name)' is listed twice") }
                lines[name] = element.line
                result.append(name)
            }
            return result
        }
        let defaultAction = try root.optional("default_action").map { (n) throws(ConfigError) in try SeccompAction.parse(n) } ?? .errno(EPERM)
        if defaultAction == .allow {
            throw try root.required("default_action").error("a Warden seccomp policy must deny by default (allowlist)")
        }
        let badArch = try root.optional("bad_arch_action").map { (n) throws(ConfigError) in try SeccompAction.parse(n) } ?? .killProcess
        let allow = try names("allow")
        let deny = try names("deny")
        for name in deny where allow.contains(name) {
            throw ConfigError(file: root.file, line: lines[name], field: "deny", message: "'\(name)' is both allowed and denied")
        }
        var supervise: [SupervisedSyscall] = []
        if let list = root.optional("supervise") {
            for element in try list.elements() {
                let name: String
                var action = SeccompAction.allow
                if element.isScalar {
                    name = try element.string()
                } else {
                    try element.checkKeys(["syscall", "action", "why"])
                    name = try element.required("syscall").string()
                    let actionNode = try element.required("action")
                    action = try SeccompAction.parse(actionNode)
                    switch action {
                    case .allow, .errno: break
                    default: throw actionNode.error("a supervised syscall is answered with allow or errno NAME")
                    }
                }
                if allow.contains(name) || deny.contains(name) {
                    throw element.error("'\(name)' is supervised and also listed under \(allow.contains(name) ? "allow" : "deny")")
                }
                if supervise.contains(where: { $0.syscall == name }) { throw element.error("'\(name)' is supervised twice") }
                lines[name] = element.line
                supervise.append(SupervisedSyscall(syscall: name, action: action, line: element.line))
            }
        }
        var rules: [SeccompRule] = []
        if let list = root.optional("rules") {
            for element in try list.elements() {
                try element.checkKeys(["syscall", "action", "args", "why"])
                let syscall = try element.required("syscall").string()
                let action = try SeccompAction.parse(element.required("action"))
                var conditions: [SeccompArgCondition] = []
                if let args = element.optional("args") {
                    for arg in try args.elements() {
                        try arg.checkKeys(["index", "op", "value", "mask"])
                        let indexNode = try arg.required("index")
                        let index = try indexNode.int()
                        guard (0...5).contains(index) else { throw indexNode.error("argument index must be 0 to 5") }
                        let opNode = try arg.required("op")
                        guard let op = SeccompArgCondition.Op(rawValue: try opNode.choice(SeccompArgCondition.Op.allCases.map(\.rawValue))) else {
                            throw opNode.error("unknown comparison")
                        }
                        let value = try constant(arg.required("value"))
                        let mask = try arg.optional("mask").map { (n) throws(ConfigError) in try constant(n) } ?? 0
                        if op == .masked_eq, arg.optional("mask") == nil { throw arg.error("masked_eq needs a mask") }
                        conditions.append(SeccompArgCondition(index: UInt32(index), op: op, value: value, mask: mask))
                    }
                }
                if conditions.isEmpty, allow.contains(syscall) {
                    throw element.error("'\(syscall)' is in allow and has an unconditional rule")
                }
                if !conditions.isEmpty, action != .allow, allow.contains(syscall) {
                    // libseccomp lets the unconditional allow win; list the allowed cases instead.
                    throw element.error("'\(syscall)' is allowed unconditionally, so a conditional \(action) rule would never apply; allow it by rules for the permitted argument values instead")
                }
                if conditions.isEmpty, supervise.contains(where: { $0.syscall == syscall }) {
                    throw element.error("'\(syscall)' is supervised and has an unconditional rule")
                }
                lines[syscall] = lines[syscall] ?? element.line
                rules.append(SeccompRule(syscall: syscall, action: action, conditions: conditions, line: element.line))
            }
        }
        return SeccompPolicy(file: root.file, defaultAction: defaultAction, badArchAction: badArch, allow: allow, deny: deny,
                             rules: rules, supervise: supervise, lines: lines)
    }

    /// An integer, or symbolic names joined with `|`.
    static func constant(_ node: ConfigNode) throws(ConfigError) -> UInt64 {
        let text = try node.string()
        var total: UInt64 = 0
        for part in text.split(separator: "|").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let named = constants[part] {
                total |= named
            } else if let number = ConfigNode.parseInt(part), number >= 0 {
                total |= UInt64(number)
            } else {
                throw node.error("'\(part)' is not a number or a known constant (\(constants.keys.sorted().joined(separator: ", ")))")
            }
        }
        return total
    }
}
