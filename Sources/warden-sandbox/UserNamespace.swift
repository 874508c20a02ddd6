import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The user namespace layer: the sandbox's ids mapped to unprivileged host ids.
extension Launcher {
    /// Maps the sandbox user to an unprivileged host id. As root, inside root maps to host
    /// root for the setup steps only (the agent never runs as it); otherwise only the caller's
    /// own ids can be mapped, with setgroups denied.
    func writeIDMaps(pid: pid_t) throws(LaunchFailure) {
        if getuid() == 0 {
            try writeFile("/proc/\(pid)/uid_map", "0 0 1\n\(spec.uid) \(spec.hostUID) 1\n")
            try writeFile("/proc/\(pid)/gid_map", "0 0 1\n\(spec.gid) \(spec.hostGID) 1\n")
        } else {
            try writeFile("/proc/\(pid)/uid_map", "\(spec.uid) \(getuid()) 1\n")
            try writeFile("/proc/\(pid)/setgroups", "deny")
            try writeFile("/proc/\(pid)/gid_map", "\(spec.gid) \(getgid()) 1\n")
        }
    }
}
