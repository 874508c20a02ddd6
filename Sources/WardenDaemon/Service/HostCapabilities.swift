import CWardenLinux
import Foundation
import WardenCore
import WardenWorld

/// What this host offers the sandbox layers, for `wardenctl status`.
enum HostCapabilities {
    static func probe() -> JSONValue {
        let userNamespaces = KernelFile.text("/proc/sys/user/max_user_namespaces")
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let status = KernelFile.text("/proc/self/status") ?? ""
        let landlock = warden_landlock_abi()
        let fm = FileManager.default
        let cgroup: String
        if let controllers = KernelFile.text("/sys/fs/cgroup/cgroup.controllers"),
           !controllers.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            cgroup = "v2 (\(controllers.trimmingCharacters(in: .whitespacesAndNewlines)))"
        } else if fm.fileExists(atPath: "/sys/fs/cgroup/memory") || fm.fileExists(atPath: "/sys/fs/cgroup/pids") {
            cgroup = "v1"
        } else {
            cgroup = "none"
        }
        return .object(Dictionary(uniqueKeysWithValues: [
            ("user_namespaces", userNamespaces > 0 ? "available (max \(userNamespaces))" : "unavailable"),
            ("seccomp", status.contains("Seccomp:") ? "available" : "unavailable"),
            ("landlock", landlock > 0 ? "ABI \(landlock)" : "unavailable"),
            ("cgroup", cgroup),
            ("openat2", World.kernelConfinesResolution ? "available" : "unavailable: scenarios with the bash tool are refused"),
        ].map { ($0.0, JSONValue.string($0.1)) } + [("unavailable", JSONValue.object(DaemonPrivileges.probe().unavailable.mapValues { .string($0) }))]))
    }
}
