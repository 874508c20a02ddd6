import CWardenWorld
import Glibc

/// Paths as another process sees them, looked at without following anything in wardend's own
/// view: resolved with `openat2(RESOLVE_IN_ROOT)` from the process's root (`/proc/PID/root`), so
/// an absolute symlink on the way is resolved inside that process's root, never the host's. For
/// evidence only (the process may change the path at any moment).
public enum ProcessView {
    /// Whether `path` (absolute, as process `pid` sees it) is a symlink there.
    public static func isSymlink(pid: Int32, path: String) -> Bool {
        let root = open("/proc/\(pid)/root", oPath | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return false }
        defer { close(root) }
        let relative = String(path.drop { $0 == "/" })
        guard !relative.isEmpty else { return false }
        let fd = warden_openat2(root, relative, UInt64(oPath | O_NOFOLLOW | O_CLOEXEC), 0,
                                UInt64(WARDEN_RESOLVE_IN_ROOT | WARDEN_RESOLVE_NO_MAGICLINKS))
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var info = stat()
        return fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }
}
