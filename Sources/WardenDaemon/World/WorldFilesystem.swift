import Foundation
import WardenCore
import Glibc

/// Each run's world lives on its own tmpfs of the sandbox policy's `world_size` (mounted under
/// STATE/live), so an agent that fills the world (through `bash`, bound read-write at
/// /srv/hosts) hits ENOSPC there instead of filling the state directory's disk. When the run
/// ends, the final world is copied to the run's directory on disk (`World.keep`: at most
/// `world_size` of data) and the tmpfs is unmounted.
enum WorldFilesystem {
    /// Mounts a tmpfs of `bytes` at `path` (created if needed).
    static func mount(at path: String, bytes: UInt64) throws(DaemonError) {
        do { try Directories.make(path) } catch {
            throw DaemonError(.run, "cannot create the world directory \(path): \(error)")
        }
        let options = "size=\(bytes),mode=0755,nr_inodes=\(max(1024, bytes / 4096))"
        guard Glibc.mount("warden-world", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            throw DaemonError(.run, "cannot mount the world's tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func unmount(_ path: String) {
        _ = umount2(path, Int32(MNT_DETACH))
    }

    /// Source name of the live tmpfs in mountinfo (how a restarted wardend knows it is its own).
    static let liveSource = "warden-live"

    /// Mounts STATE/live: a small tmpfs, made a shared mount, that holds each run's transient
    /// parts — its world's mount point and its agents' broker sockets. Shared, so a world tmpfs
    /// mounted under it reaches the mount namespaces of launchers started (and stood by) before
    /// it. On tmpfs, so those short-lived inodes never touch the state disk: on ext4 a deleted
    /// inode counts as recently deleted for a while and every new inode of its group is found
    /// only after a scan past all of them, which many runs a second would pay. A live tmpfs a killed
    /// predecessor left is unmounted first (recovery has kept its worlds by then).
    static func mountLive(_ live: String) throws(DaemonError) {
        if mountInfo().contains(where: { $0.mountPoint == live && $0.source == liveSource }) { unmount(live) }
        do { try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw DaemonError(.run, "cannot create \(live): \(error)")
        }
        guard Glibc.mount(liveSource, live, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "size=16m,mode=0700,nr_inodes=65536") == 0 else {
            throw DaemonError(.run, "cannot mount a tmpfs at \(live): \(String(cString: strerror(errno)))")
        }
        guard Glibc.mount(nil, live, nil, UInt(MS_SHARED), nil) == 0 else {
            let problem = String(cString: strerror(errno))
            unmount(live)
            throw DaemonError(.run, "cannot make \(live) a shared mount: \(problem)")
        }
    }

    struct MountEntry { var mountPoint: String; var source: String }

    /// This process's mounts (`/proc/self/mountinfo`).
    static func mountInfo() -> [MountEntry] {
        guard let text = KernelFile.text("/proc/self/mountinfo") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            return MountEntry(mountPoint: String(fields[4]).replacingOccurrences(of: "\\040", with: " "), source: String(fields[dash + 2]))
        }
    }

    /// World tmpfs mounts under `live` left by a daemon that died mid-run.
    static func leftovers(under live: String) -> [String] {
        mountInfo().filter { $0.source == "warden-world" && $0.mountPoint.hasPrefix(live + "/") }.map(\.mountPoint)
    }
}
