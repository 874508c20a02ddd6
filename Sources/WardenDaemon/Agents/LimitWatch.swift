import Foundation
import Glibc
import WardenCore
import WardenSandbox
import WardenSandboxHost

/// Looks at one sandbox for the limits that refuse rather than kill: a fork refused at the
/// cgroup's pids limit, a process holding as many descriptors as rlimit nofile allows, the
/// sandbox's /tmp full, the run's world full (for an agent that can write it). The kernel holds
/// each of these by failing a call (EAGAIN, EMFILE, ENOSPC) and lets the program go on; the
/// sandbox policy's `on_limit` says whether wardend then stops it.
///
/// Polled: cgroup v1 has no notification for pids.events, and nothing notifies an fd count or a
/// full tmpfs. A limit reached and released between two looks is still seen through pids.events
/// (a counter), but not through a descriptor count or a /tmp emptied again in time.
struct LimitWatch: Sendable {
    /// How often each sandbox is looked at.
    static let interval: Duration = .milliseconds(250)

    struct Reached: Sendable, Equatable {
        /// `processes`, `open_files`, `tmp` or `world`.
        var limit: String
        /// The `ended` reason's words after `resource_limit: `.
        var reason: String
    }

    let cgroup: SandboxCgroup
    /// The sandbox's pid 1 (its /tmp is seen through /proc/PID/root), if known.
    let initPID: pid_t?
    let pidsLimit: Int?
    let nofile: UInt64?
    let tmpBytes: UInt64
    /// The world's tmpfs, when this agent can write it and it has a size limit.
    let world: (path: String, bytes: UInt64)?

    /// Every limit reached now.
    func reached() -> [Reached] {
        var found: [Reached] = []
        if let refused = cgroup.events([SandboxCgroup.pidsMax])["pids_max"], refused > 0 {
            found.append(Reached(limit: "processes", reason: "processes (\(refused) fork\(refused == 1 ? "" : "s") refused at the sandbox's "
                + "pids limit\(pidsLimit.map { " of \($0)" } ?? ""))"))
        }
        if let nofile {
            let pids = cgroup.leaves.isEmpty ? initPID.map { [$0] } ?? [] : cgroup.processes()
            for pid in pids {
                let open = Self.descriptorCount(pid)
                if open >= Int(clamping: nofile) {
                    found.append(Reached(limit: "open_files", reason: "open files (a process held \(open) descriptors, its nofile limit)"))
                    break
                }
            }
        }
        if let initPID, Self.isFull("/proc/\(initPID)/root/tmp") {
            found.append(Reached(limit: "tmp", reason: "disk (/tmp is full: tmp_size \(Self.mebibytes(tmpBytes)))"))
        }
        if let world, Self.isFull(world.path) {
            found.append(Reached(limit: "world", reason: "disk (the world is full: world_size \(Self.mebibytes(world.bytes)))"))
        }
        return found
    }

    /// What this watch cannot see on this host, by limit, with why: such a limit still holds
    /// (the kernel refuses at it) but an agent reaching it is not stopped.
    func blindSpots() -> [String: String] {
        var blind: [String: String] = [:]
        if cgroup.leaves.isEmpty { blind["processes"] = "the sandbox has no cgroup (forks stop at rlimit nproc, which counts nothing wardend can read)" }
        guard let initPID else {
            blind["open_files"] = "the sandbox's pid 1 is not known"
            blind["tmp"] = "the sandbox's pid 1 is not known"
            return blind
        }
        if nofile != nil {
            if let directory = opendir("/proc/\(initPID)/fd") {
                closedir(directory)
            } else {
                blind["open_files"] = "/proc/\(initPID)/fd cannot be read: \(String(cString: strerror(errno)))"
            }
        }
        var info = statvfs()
        if statvfs("/proc/\(initPID)/root/tmp", &info) != 0 {
            blind["tmp"] = "/proc/\(initPID)/root/tmp cannot be read: \(String(cString: strerror(errno)))"
        }
        return blind
    }

    /// Whether the filesystem at `path` has no block or no inode left for an unprivileged writer.
    static func isFull(_ path: String) -> Bool {
        var info = statvfs()
        guard statvfs(path, &info) == 0, info.f_blocks > 0 else { return false }
        return info.f_bavail == 0 || (info.f_files > 0 && info.f_favail == 0)
    }

    /// The descriptors `pid` holds (0 if it is gone).
    static func descriptorCount(_ pid: pid_t) -> Int {
        guard let directory = opendir("/proc/\(pid)/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return count
    }

    static func mebibytes(_ bytes: UInt64) -> String { bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes) bytes" }
}
