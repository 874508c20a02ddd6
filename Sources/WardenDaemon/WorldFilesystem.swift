import Foundation
import WardenCore
import Glibc

/// Each run's world lives on its own tmpfs of the sandbox policy's `world_size`, so an agent
/// that fills the world (through `bash`, bound read-write at /srv/hosts) hits ENOSPC there
/// instead of filling the state directory's disk. When the run ends, the final world is copied
/// to the run's directory on disk (at most `world_size`) and the tmpfs is unmounted.
enum WorldFilesystem {
    /// Mounts a tmpfs of `bytes` at `path` (created if needed).
    static func mount(at path: String, bytes: UInt64) throws(DaemonError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw DaemonError(.run, "cannot create the world directory \(path): \(error)")
        }
        let options = "size=\(bytes),mode=0755,nr_inodes=\(max(1024, bytes / 4096))"
        guard Glibc.mount("warden-world", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            throw DaemonError(.run, "cannot mount the world's tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Copies the mounted world at `path` to disk (times and modes kept), unmounts its tmpfs and
    /// puts the copy in its place. Returns what went wrong, if anything.
    static func release(_ path: String) -> String? {
        let kept = path + ".final"
        var problem: String?
        do { try FileManager.default.copyItem(atPath: path, toPath: kept) } catch {
            problem = "the final world could not be kept on disk: \(error)"
        }
        unmount(path)
        guard problem == nil else { return problem }
        _ = rmdir(path)
        _ = Glibc.rename(kept, path)
        return nil
    }

    static func unmount(_ path: String) {
        _ = umount2(path, Int32(MNT_DETACH))
    }

    /// Makes `runs` a shared mount (a bind of itself, once), so a world tmpfs mounted under it
    /// reaches the mount namespaces of launchers that were started — and stood by — before it.
    /// True when the bind is wardend's — made now, or by a predecessor that was killed before it
    /// could remove it (a marker file next to `runs` says so) — and a clean stop then removes it
    /// with `unshareRuns`. A mount the administrator put there is left alone.
    @discardableResult
    static func shareRuns(_ runs: String) throws(DaemonError) -> Bool {
        do { try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true) } catch {
            throw DaemonError(.run, "cannot create \(runs): \(error)")
        }
        let entry = mountInfo().first { $0.mountPoint == runs }
        let ours = entry != nil && FileManager.default.fileExists(atPath: marker(runs))
        if entry?.shared == true { return ours }
        if entry == nil {
            guard Glibc.mount(runs, runs, nil, UInt(MS_BIND), nil) == 0 else {
                throw DaemonError(.run, "cannot bind \(runs) onto itself (to share world mounts with sandboxes): \(String(cString: strerror(errno)))")
            }
            _ = FileManager.default.createFile(atPath: marker(runs), contents: Data("made by wardend; removed with the bind on a clean stop\n".utf8))
        }
        guard Glibc.mount(nil, runs, nil, UInt(MS_SHARED), nil) == 0 else {
            throw DaemonError(.run, "cannot make \(runs) a shared mount: \(String(cString: strerror(errno)))")
        }
        return entry == nil || ours
    }

    /// Removes the bind `shareRuns` made (and anything still mounted under it).
    static func unshareRuns(_ runs: String) {
        unmount(runs)
        unlink(marker(runs))
    }

    /// Next to `runs` (not inside it, where the bind would hide it): present while the bind is wardend's.
    private static func marker(_ runs: String) -> String { runs + ".shared-mount" }

    struct MountEntry { var mountPoint: String; var source: String; var shared: Bool }

    /// This process's mounts (`/proc/self/mountinfo`).
    static func mountInfo() -> [MountEntry] {
        guard let text = KernelFile.text("/proc/self/mountinfo") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            let optional = fields[6..<dash]
            return MountEntry(mountPoint: String(fields[4]).replacingOccurrences(of: "\\040", with: " "), source: String(fields[dash + 2]),
                              shared: optional.contains { $0.hasPrefix("shared:") })
        }
    }

    /// World tmpfs mounts under `runs` left by a daemon that died mid-run.
    static func leftovers(under runs: String) -> [String] {
        mountInfo().filter { $0.source == "warden-world" && $0.mountPoint.hasPrefix(runs + "/") }.map(\.mountPoint)
    }
}
