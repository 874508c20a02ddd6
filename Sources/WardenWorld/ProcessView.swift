import CWardenWorld
import Glibc
import WardenCore
import WardenScenario

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

extension ProcessView {
    /// A file a process executed, as found from the process's own root: its inode, and its
    /// content's sha256 when it is a regular file of one of `hashSizes` (the sizes of the files
    /// an exec trigger waits for; nothing else is read).
    public struct Executed: Sendable {
        public var path: String
        public var inode: UInt64
        public var sha256: String?
        public var json: JSONValue {
            var object: [String: JSONValue] = ["path": .string(path), "inode": .int(Int64(bitPattern: inode))]
            if let sha256 { object["sha256"] = .string(sha256) }
            return .object(object)
        }
    }

    /// `path` (absolute, as process `pid` sees it) resolved beneath the process's root by
    /// descriptor: symlinks followed inside that root only, never out of it.
    public static func executed(pid: Int32, path: String, hashSizes: Set<Int64>) -> Executed? {
        let root = open("/proc/\(pid)/root", oPath | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return nil }
        defer { close(root) }
        let relative = String(path.drop { $0 == "/" })
        guard !relative.isEmpty else { return nil }
        let fd = warden_openat2(root, relative, UInt64(oPath | O_CLOEXEC), 0, UInt64(WARDEN_RESOLVE_IN_ROOT | WARDEN_RESOLVE_NO_MAGICLINKS))
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        var found = Executed(path: path, inode: UInt64(info.st_ino), sha256: nil)
        guard info.st_mode & S_IFMT == S_IFREG, hashSizes.contains(Int64(info.st_size)) else { return found }
        // Opened again to read, and read only if it is still the regular file just looked at.
        let readable = warden_openat2(root, relative, UInt64(O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), 0,
                                      UInt64(WARDEN_RESOLVE_IN_ROOT | WARDEN_RESOLVE_NO_MAGICLINKS))
        guard readable >= 0 else { return found }
        defer { close(readable) }
        var again = stat()
        guard fstat(readable, &again) == 0, again.st_ino == info.st_ino, again.st_dev == info.st_dev, again.st_size == info.st_size else {
            return found
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let count = bytes.withUnsafeMutableBytes { read(readable, $0.baseAddress, $0.count) }
        if count == Int(info.st_size) { found.sha256 = sha256Hex(bytes) }
        return found
    }
}
