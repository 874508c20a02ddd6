import Foundation
import WardenCore
import WardenSandboxSpec

/// Reading seccomp policies from YAML (`policies/seccomp/*.yaml`); the types they become, and
/// their compiler, are in WardenSandboxSpec, which needs no Foundation.
extension SeccompAction {
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
}

extension SeccompPolicy {
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
