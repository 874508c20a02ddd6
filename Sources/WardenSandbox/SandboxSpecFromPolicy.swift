import Foundation
import WardenCore
import WardenSandboxSpec

/// A spec from the sandbox policy, and the parts that read the host: binds that must exist, and
/// where the Swift runtime the sandboxed programs need is.
extension SandboxSpec {
    /// A spec from the policies, for `command`.
    public static func make(command: [String], policy: SandboxPolicy, seccomp: SeccompCompiler.Program,
                            extraBinds: [Bind], environment: [String: String], keepBrokerFD: Bool) -> SandboxSpec {
        var env = ["PATH": "/opt/warden/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"]
        env.merge(environment) { _, new in new }
        var binds = extraBinds
        if let runtime = swiftRuntimeDirectory(), !policy.readOnly.contains(where: { runtime.hasPrefix($0 + "/") }) {
            binds.append(Bind(source: runtime, target: runtime))
        }
        var spec = SandboxSpec(
            command: command, environment: env, hostname: policy.hostname, systemBinds: policy.readOnly, binds: binds,
            tmpSizeBytes: policy.tmpSizeBytes, uid: policy.uid, gid: policy.gid, hostUID: policy.hostUID,
            hostGID: policy.hostGID, rlimits: policy.rlimits,
            seccompFilters: seccomp.filters.map { Data($0).base64EncodedString() }, keepBrokerFD: keepBrokerFD)
        spec.landlockMinimumABI = policy.landlockMinimumABI
        spec.landlockBestEffort = policy.landlockBestEffort
        spec.cgroupMemoryBytes = policy.cgroupMemoryBytes
        spec.cgroupPids = policy.cgroupPids
        spec.cgroupCPU = policy.cgroupCPU
        spec.cgroupRequired = policy.cgroupRequired
        return spec
    }

    /// Parses `HOST` or `HOST:INSIDE` (INSIDE defaults to HOST).
    public static func parseBind(_ text: String) throws(SandboxError) -> Bind {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let source = parts[0]
        let target = parts.count > 1 ? parts[1] : source
        guard source.hasPrefix("/"), target.hasPrefix("/"), !target.split(separator: "/").contains("..") else {
            throw SandboxError(.policy, "bind '\(text)': HOST and INSIDE must be absolute paths without '..'")
        }
        guard FileManager.default.fileExists(atPath: source) else {
            throw SandboxError(.policy, "bind '\(text)': \(source) does not exist on the host")
        }
        return Bind(source: source, target: target)
    }

    /// The directory of the Swift runtime libraries this process uses, which Swift programs in
    /// the sandbox (the agent runtime) need to load.
    /// Found once: the runtime a process is linked against does not move while it runs.
    public static func swiftRuntimeDirectory() -> String? { runtimeDirectory }

    private static let runtimeDirectory: String? = findSwiftRuntimeDirectory()

    private static func findSwiftRuntimeDirectory() -> String? {
        guard let maps = KernelFile.text("/proc/self/maps") else { return nil }
        for line in maps.split(separator: "\n") where line.hasSuffix("/libswiftCore.so") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            return URL(fileURLWithPath: String(line[slash...])).deletingLastPathComponent().path
        }
        return nil
    }
}
