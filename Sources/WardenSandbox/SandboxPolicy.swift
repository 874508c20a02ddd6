import Foundation
import WardenCore

/// The filesystem, identity and resource shape of a sandbox, read from
/// `policies/sandbox/*.yaml`.
public struct SandboxPolicy: Sendable, Equatable {
    public var file: String
    /// Host directories bound read-only at the same path (skipped when absent on the host;
    /// a host symlink such as `/bin -> usr/bin` is recreated as a symlink).
    public var readOnly: [String]
    public var hostname: String
    public var uid: UInt32
    public var gid: UInt32
    /// The host uid/gid the sandbox user maps to when the launcher runs as root.
    public var hostUID: UInt32
    public var hostGID: UInt32
    public var tmpSizeBytes: UInt64
    /// The size of each run's world (a tmpfs the daemon mounts for it): what `bash` can write
    /// under /srv/hosts, in all.
    public var worldSizeBytes: UInt64 = 256 << 20
    public var rlimits: [String: UInt64]
    /// The seccomp policy file, relative to the policies directory or absolute.
    public var seccomp: String
    /// The lowest Landlock ABI the launcher accepts; below it (or without Landlock) it refuses
    /// to start the agent unless `landlockBestEffort`.
    public var landlockMinimumABI: Int = 1
    public var landlockBestEffort: Bool = false
    public var cgroupMemoryBytes: UInt64?
    public var cgroupPids: Int?
    public var cgroupCPU: Double?
    public var cgroupRequired = false
    /// What wardend does when an agent reaches a limit that refuses rather than kills (pids,
    /// open files, /tmp or the world full).
    public var onLimit: LimitAction = .stop

    /// The limits that refuse (a fork fails with EAGAIN, an open with EMFILE, a write with
    /// ENOSPC) leave a program running; the kernel ends it only at memory.max, RLIMIT_CPU and
    /// RLIMIT_FSIZE. Whether wardend then stops it is the experiment's choice.
    public enum LimitAction: String, Sendable, Equatable, CaseIterable {
        /// wardend stops the agent's sandbox; the agent ends with `resource_limit: …`.
        case stop
        /// The limit holds and the agent carries on with the error; the event is still audited.
        case contain
    }

    public static let rlimitNames = ["nofile", "nproc", "core", "fsize", "cpu", "as"]

    public static func load(contentsOf path: String) throws(ConfigError) -> SandboxPolicy {
        let root = try ConfigNode.load(contentsOf: path)
        try root.checkKeys(["version", "description", "read_only", "hostname", "uid", "gid", "host_uid", "host_gid",
                            "tmp_size", "world_size", "rlimits", "seccomp", "landlock", "cgroup", "on_limit"])
        var policy = SandboxPolicy(
            file: path, readOnly: [], hostname: "warden", uid: 1000, gid: 1000, hostUID: 65534, hostGID: 65534,
            tmpSizeBytes: 64 << 20, rlimits: [:], seccomp: "seccomp/default.yaml")
        if let list = root.optional("read_only") {
            for element in try list.elements() {
                let path = try element.string()
                guard path.hasPrefix("/"), !path.contains("..") else { throw element.error("'\(path)' must be an absolute path without '..'") }
                policy.readOnly.append(path)
            }
        }
        if let node = root.optional("hostname") { policy.hostname = try node.string() }
        func id(_ key: String, _ value: inout UInt32) throws(ConfigError) {
            guard let node = root.optional(key) else { return }
            let number = try node.int()
            guard (1...0xFFFF_FFFE).contains(number) else { throw node.error("must be a non-root id (1 or more)") }
            value = UInt32(number)
        }
        try id("uid", &policy.uid)
        try id("gid", &policy.gid)
        try id("host_uid", &policy.hostUID)
        try id("host_gid", &policy.hostGID)
        if let node = root.optional("tmp_size") { policy.tmpSizeBytes = try size(node) }
        if let node = root.optional("world_size") { policy.worldSizeBytes = try size(node) }
        if let node = root.optional("rlimits") {
            for (name, value) in try node.entries() {
                guard rlimitNames.contains(name) else {
                    throw value.error("unknown rlimit (expected one of: \(rlimitNames.joined(separator: ", ")))")
                }
                policy.rlimits[name] = try size(value)
            }
        }
        if let node = root.optional("seccomp") { policy.seccomp = try node.string() }
        if let node = root.optional("on_limit") {
            let text = try node.string()
            guard let action = LimitAction(rawValue: text) else {
                throw node.error("'\(text)' is not a limit action (expected one of: \(LimitAction.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            policy.onLimit = action
        }
        if let node = root.optional("cgroup") {
            try node.checkKeys(["memory", "pids", "cpu", "required"])
            if let memory = node.optional("memory") { policy.cgroupMemoryBytes = try size(memory) }
            if let pids = node.optional("pids") {
                let value = try pids.int()
                guard value >= 4 else { throw pids.error("must be at least 4") }
                policy.cgroupPids = value
            }
            if let cpu = node.optional("cpu") {
                let value = try cpu.double()
                guard value > 0.01, value <= 1024 else { throw cpu.error("must be a number of CPUs, e.g. 0.5 or 2") }
                policy.cgroupCPU = value
            }
            if let required = node.optional("required") { policy.cgroupRequired = try required.bool() }
        }
        if let node = root.optional("landlock") {
            try node.checkKeys(["min_abi", "best_effort"])
            if let abi = node.optional("min_abi") {
                policy.landlockMinimumABI = try abi.int()
                guard (0...64).contains(policy.landlockMinimumABI) else { throw abi.error("must be 0 (none required) to 64") }
            }
            if let effort = node.optional("best_effort") { policy.landlockBestEffort = try effort.bool() }
        }
        return policy
    }

    /// A byte count: an integer with an optional K, M or G suffix.
    static func size(_ node: ConfigNode) throws(ConfigError) -> UInt64 {
        let text = try node.string().trimmingCharacters(in: .whitespaces)
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let multiplier = multipliers[last], let value = UInt64(text.dropLast()) { return value * multiplier }
        guard let value = UInt64(text) else { throw node.error("'\(text)' is not a size (e.g. 1024, 64M, 1G)") }
        return value
    }

    /// The policy and its compiled seccomp program, found the standard way
    /// (`PolicyLocator`) unless explicit files are given.
    public static func loadDefault(sandboxPolicy: String? = nil, seccompPolicy: String? = nil) throws(SandboxError)
        -> (SandboxPolicy, SeccompPolicy)
    {
        guard let sandboxPath = PolicyLocator.policyFile("sandbox/default.yaml", explicit: sandboxPolicy) else {
            throw SandboxError(.policy, "no sandbox policy found: pass --policy, install /etc/warden/policies, or run from a checkout")
        }
        let sandbox: SandboxPolicy
        do { sandbox = try load(contentsOf: sandboxPath) } catch { throw SandboxError(error) }
        let seccompPath: String
        if let seccompPolicy {
            seccompPath = seccompPolicy
        } else if sandbox.seccomp.hasPrefix("/") {
            seccompPath = sandbox.seccomp
        } else {
            seccompPath = URL(fileURLWithPath: sandboxPath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(sandbox.seccomp).path
        }
        do { return (sandbox, try SeccompPolicy.load(contentsOf: seccompPath)) } catch { throw SandboxError(error) }
    }
}
