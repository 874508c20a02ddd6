import Foundation
import WardenCore
import Glibc
import WardenSandbox

/// Puts the launcher (and so every process of the sandbox) into a fresh cgroup with the
/// policy's memory, pids and cpu limits: a v2 leaf below the launcher's own cgroup where a
/// writable unified hierarchy with those controllers exists, else v1 controllers, else none.
/// The launcher joins before it forks; it leaves and removes the cgroups when the sandbox ends.
struct CgroupLimits {
    let spec: SandboxSpec
    private(set) var directories: [String] = []
    private(set) var parents: [String] = []
    private(set) var summary = "none"

    init(spec: SandboxSpec) { self.spec = spec }

    var wanted: Bool { spec.cgroupMemoryBytes != nil || spec.cgroupPids != nil || spec.cgroupCPU != nil }

    /// Creates, limits and joins; returns false when no hierarchy could be used.
    mutating func apply() -> Bool {
        guard wanted else { summary = "not requested"; return true }
        let name = "warden-\(getpid())"
        if applyV2(name: name) || applyV1(name: name) { return true }
        summary = "unavailable"
        return false
    }

    private mutating func applyV2(name: String) -> Bool {
        guard let controllers = KernelFile.text("/sys/fs/cgroup/cgroup.controllers"),
              !controllers.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
              let own = KernelFile.text("/proc/self/cgroup")?
                .split(separator: "\n").first(where: { $0.hasPrefix("0::") })?.dropFirst(3)
        else { return false }
        let parent = "/sys/fs/cgroup" + own
        let leaf = parent + "/" + name
        guard mkdir(leaf, 0o755) == 0 else { return false }
        var limits: [String] = []
        if let memory = spec.cgroupMemoryBytes, write(leaf + "/memory.max", "\(memory)") { limits.append("memory=\(memory)") }
        if let pids = spec.cgroupPids, write(leaf + "/pids.max", "\(pids)") { limits.append("pids=\(pids)") }
        if let cpu = spec.cgroupCPU, write(leaf + "/cpu.max", "\(Int(cpu * 100_000)) 100000") { limits.append("cpu=\(cpu)") }
        guard !limits.isEmpty, write(leaf + "/cgroup.procs", "\(getpid())") else {
            rmdir(leaf)
            return false
        }
        directories = [leaf]
        parents = [parent]
        summary = "v2 " + limits.joined(separator: " ")
        return true
    }

    private mutating func applyV1(name: String) -> Bool {
        var limits: [String] = []
        func controller(_ controller: String, _ files: [(String, String)], _ label: String) {
            let root = "/sys/fs/cgroup/\(controller)"
            guard FileManager.default.fileExists(atPath: root + "/cgroup.procs") else { return }
            let base = root + "/" + spec.instance
            _ = mkdir(base, 0o755)
            let leaf = base + "/" + name
            guard mkdir(leaf, 0o755) == 0 || errno == EEXIST else { return }
            guard files.allSatisfy({ write(leaf + "/" + $0.0, $0.1) }), write(leaf + "/cgroup.procs", "\(getpid())") else {
                rmdir(leaf)
                return
            }
            directories.append(leaf)
            parents.append(root)
            limits.append(label)
        }
        if let memory = spec.cgroupMemoryBytes { controller("memory", [("memory.limit_in_bytes", "\(memory)")], "memory=\(memory)") }
        if let pids = spec.cgroupPids { controller("pids", [("pids.max", "\(pids)")], "pids=\(pids)") }
        if let cpu = spec.cgroupCPU {
            controller("cpu", [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "\(Int(cpu * 100_000))")], "cpu=\(cpu)")
        }
        guard !limits.isEmpty else { return false }
        summary = "v1 " + limits.joined(separator: " ")
        return true
    }

    /// Leaves the cgroups (back to their parents) and removes them; they are empty by then.
    func remove() {
        for (leaf, parent) in zip(directories, parents) {
            _ = write(parent + "/cgroup.procs", "\(getpid())")
            rmdir(leaf)
        }
    }

    private func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
