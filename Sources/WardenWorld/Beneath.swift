import CWardenWorld
import Glibc

/// Opening a path beneath a directory descriptor such that no symlink, magic link, mount
/// crossing or `..` is followed on the way: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`. The kernel checks every component as it walks, so a
/// component renamed, exchanged or replaced by a symlink while the walk runs fails it (ELOOP,
/// EXDEV) instead of leading elsewhere. Callers never hold a path string across a check.
enum Beneath {
    static let resolve = UInt64(WARDEN_RESOLVE_BENEATH | WARDEN_RESOLVE_NO_SYMLINKS | WARDEN_RESOLVE_NO_MAGICLINKS | WARDEN_RESOLVE_NO_XDEV)

    /// Whether this kernel has openat2 (Linux 5.6+). Without it, resolution walks one component
    /// at a time with `O_NOFOLLOW` and a device check: as safe for trees no sandbox can change,
    /// which is why wardend refuses shell (`bash`) scenarios on such a kernel.
    static let kernelHasOpenat2: Bool = {
        // No descriptor and no path: any kernel with the syscall answers EBADF, one without ENOSYS.
        let fd = warden_openat2(-1, "", UInt64(oPath | O_CLOEXEC), 0, 0)
        if fd >= 0 { close(fd) }
        return fd >= 0 || errno != ENOSYS
    }()

    /// For tests: resolve by the component walk even where openat2 exists.
    nonisolated(unsafe) static var forceComponentWalk = false

    /// `relative` opened beneath `directory` with `flags` (O_CLOEXEC is added); -1 with errno set.
    static func open(_ directory: Int32, _ relative: String, flags: Int32, mode: mode_t = 0) -> Int32 {
        if kernelHasOpenat2 && !forceComponentWalk {
            while true {
                let fd = warden_openat2(directory, relative, UInt64(flags | O_CLOEXEC), UInt64(mode), resolve)
                // EAGAIN: a concurrent rename anywhere in the system may make a RESOLVE_BENEATH walk
                // retry; the kernel asks the caller to.
                if fd < 0 && errno == EAGAIN { continue }
                return fd
            }
        }
        return walk(directory, relative, flags: flags, mode: mode)
    }

    /// One component (raw bytes, NUL-terminated, no `/`) opened beneath `directory`.
    static func open(_ directory: Int32, component: [CChar], flags: Int32, mode: mode_t = 0) -> Int32 {
        let bytes = component.prefix { $0 != 0 }
        guard !bytes.isEmpty, !bytes.contains(CChar(UInt8(ascii: "/"))), bytes != [46], bytes != [46, 46] else {
            errno = EINVAL
            return -1
        }
        if kernelHasOpenat2 && !forceComponentWalk {
            while true {
                let fd = warden_openat2(directory, component, UInt64(flags | O_CLOEXEC), UInt64(mode), resolve)
                if fd < 0 && errno == EAGAIN { continue }
                return fd
            }
        }
        let fd = openat(directory, component, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return -1 }
        var top = Glibc.stat()
        var info = Glibc.stat()
        guard fstat(directory, &top) == 0, fstat(fd, &info) == 0, info.st_dev == top.st_dev else {
            close(fd)
            errno = EXDEV
            return -1
        }
        return fd
    }

    /// Whether `relative` would leave `directory` if its symlinks were followed (still confined,
    /// with no magic links and no mount crossing): the kernel answers EXDEV when a symlink or a
    /// `..` would take the walk above `directory`. Opens nothing readable (oPath).
    static func leaves(_ directory: Int32, _ relative: String) -> Bool {
        guard kernelHasOpenat2 else { return false }
        let resolve = UInt64(WARDEN_RESOLVE_BENEATH | WARDEN_RESOLVE_NO_MAGICLINKS | WARDEN_RESOLVE_NO_XDEV)
        while true {
            let fd = warden_openat2(directory, relative, UInt64(oPath | O_CLOEXEC), 0, resolve)
            if fd >= 0 {
                close(fd)
                return false
            }
            if errno == EAGAIN { continue }
            return errno == EXDEV
        }
    }

    /// The fallback resolution: every directory on the way opened with O_NOFOLLOW, checked to be
    /// a directory on the same device, then the last component with O_NOFOLLOW.
    private static func walk(_ directory: Int32, _ relative: String, flags: Int32, mode: mode_t) -> Int32 {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            errno = EXDEV
            return -1
        }
        var top = Glibc.stat()
        guard fstat(directory, &top) == 0 else { return -1 }
        var current = directory
        defer { if current != directory { close(current) } }
        for part in parts.dropLast() {
            let next = openat(current, part, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                if errno == ENOTDIR, isSymlink(current, part) { errno = ELOOP }
                return -1
            }
            var info = Glibc.stat()
            guard fstat(next, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_dev == top.st_dev else {
                close(next)
                errno = info.st_mode & S_IFMT == S_IFLNK ? ELOOP : EXDEV
                return -1
            }
            if current != directory { close(current) }
            current = next
        }
        guard let last = parts.last else { return -1 }
        let fd = openat(current, last, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return -1 }
        var info = Glibc.stat()
        guard fstat(fd, &info) == 0, info.st_dev == top.st_dev else {
            close(fd)
            errno = EXDEV
            return -1
        }
        return fd
    }

    private static func isSymlink(_ directory: Int32, _ name: String) -> Bool {
        var info = Glibc.stat()
        return fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }
}
