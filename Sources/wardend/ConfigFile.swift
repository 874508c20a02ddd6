import Foundation
import WardenCore

/// `/etc/warden/wardend.yaml` (or `--config FILE`): defaults for wardend's flags. Flags win.
///
/// ```yaml
/// state_dir: /var/lib/warden
/// socket: /run/warden/control.sock
/// policy_dir: /etc/warden/policies
/// control_group: warden
/// credentials: /etc/warden/credentials.yaml
/// request_timeout: 10        # seconds a started control request may take to arrive
/// standby_launchers: 1       # sandbox launchers kept started ahead of need (0 to 64)
/// audit_limits:              # what a flood may write to the audit log (see AuditLimits)
///   refused_connections_per_minute: 30   # per caller uid, one by one; the rest summarised
///   syscalls_per_second: 200             # supervised syscalls per sandbox, one by one,
///   syscall_burst: 2000                  # after a first burst; the rest summarised
/// ```
struct ConfigFile {
    static let defaultPath = "/etc/warden/wardend.yaml"

    var stateDir: String?
    var socket: String?
    var policyDir: String?
    var controlGroup: String?
    var credentials: String?
    var requestTimeout: Double?
    var standbyLaunchers: Int?
    var auditLimits: AuditLimits?

    /// The file at `path`; a missing default file is no error, a missing explicit one is.
    static func load(_ path: String?) throws(ConfigError) -> ConfigFile {
        let file = path ?? defaultPath
        if path == nil, !FileManager.default.fileExists(atPath: file) { return ConfigFile() }
        // A file of comments only (the packaged example) sets nothing.
        if let text = FileManager.default.contents(atPath: file).map({ String(decoding: $0, as: UTF8.self) }),
           text.split(separator: "\n").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty || $0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }) {
            return ConfigFile()
        }
        let root = try ConfigNode.load(contentsOf: file)
        try root.checkKeys(["state_dir", "socket", "policy_dir", "control_group", "credentials", "request_timeout", "standby_launchers",
                            "audit_limits"])
        var config = ConfigFile()
        config.stateDir = try root.optional("state_dir")?.string()
        config.socket = try root.optional("socket")?.string()
        config.policyDir = try root.optional("policy_dir")?.string()
        config.controlGroup = try root.optional("control_group")?.string()
        config.credentials = try root.optional("credentials")?.string()
        if let node = root.optional("request_timeout") {
            let seconds = try node.double()
            guard seconds > 0, seconds <= 3600 else { throw node.error("must be more than 0 and at most 3600 seconds") }
            config.requestTimeout = seconds
        }
        if let node = root.optional("standby_launchers") {
            let count = try node.int()
            guard (0...64).contains(count) else { throw node.error("must be 0 to 64") }
            config.standbyLaunchers = count
        }
        if let node = root.optional("audit_limits") {
            try node.checkKeys(["refused_connections_per_minute", "syscalls_per_second", "syscall_burst"])
            var limits = AuditLimits()
            if let value = node.optional("refused_connections_per_minute") {
                let count = try value.int()
                guard (1...100_000).contains(count) else { throw value.error("must be 1 to 100000") }
                limits.refusedPerMinute = count
            }
            if let value = node.optional("syscalls_per_second") {
                let rate = try value.double()
                guard rate >= 1, rate <= 1_000_000 else { throw value.error("must be 1 to 1000000") }
                limits.syscallsPerSecond = rate
            }
            if let value = node.optional("syscall_burst") {
                let count = try value.int()
                guard (1...10_000_000).contains(count) else { throw value.error("must be 1 to 10000000") }
                limits.syscallBurst = count
            }
            config.auditLimits = limits
        }
        return config
    }
}
