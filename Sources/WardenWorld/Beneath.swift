import CWardenWorld
import Glibc

/// Opening a path beneath a directory descriptor such that no symlink, magic link, mount
/// crossing or `..` is followed on the way: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`. The kernel checks every component as it walks, so a
/// component renamed, exchanged or replaced by a symlink while the walk runs fails it (ELOOP,
/// EXDEV) instead of leading elsewhere. Paths are `Component`s: no caller builds one from text.
enum Beneath {
    static let resolve = UInt64(WARDEN_RESOLVE_BENEATH | WARDEN_RESOLVE_NO_SYMLINKS | WARDEN_RESOLVE_NO_MAGICLINKS | WARDEN_RESOLVE_NO_XDEV)
    /// RESOLVE_BENEATH walks are retried on EAGAIN (a rename elsewhere in the system raced them)
    /// this many times, then fail.
    static let retries = 64

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

    /// The longest path, NUL included, the kernel resolves in one call (PATH_MAX).
    static let pathMax = 4096

    /// `components` opened beneath `directory` with `flags` (O_CLOEXEC added); -1 with errno set.
    /// A path longer than `pathMax` (a deep tree's) is resolved a part at a time: each part's
    /// directory opened beneath the last, so the whole stays beneath `directory`.
    static func open(_ directory: Int32, _ components: [Component], flags: Int32, mode: mode_t = 0) -> Int32 {
        guard !components.isEmpty else {
            errno = EINVAL
            return -1
        }
        guard kernelHasOpenat2 && !forceComponentWalk else { return walk(directory, components, flags: flags, mode: mode) }
        var base = directory
        var start = 0
        defer {
            let saved = errno
            if base != directory { close(base) }
            errno = saved
        }
        while true {
            // Each name counts its bytes and one more: a `/` after it, or the final NUL.
            var end = start
            var length = 0
            while end < components.count, length + components[end].name.count <= pathMax {
                length += components[end].name.count
                end += 1
            }
            let part = Component.joined(components[start..<end])
            if end == components.count { return confined(base, part, flags: flags, mode: mode, resolve: resolve) }
            let next = confined(base, part, flags: oPath | O_DIRECTORY, mode: 0, resolve: resolve)
            guard next >= 0 else { return -1 }
            if base != directory { close(base) }
            base = next
            start = end
        }
    }

    /// One component opened beneath `directory`.
    static func open(_ directory: Int32, _ component: Component, flags: Int32, mode: mode_t = 0) -> Int32 {
        Self.open(directory, [component], flags: flags, mode: mode)
    }

    /// Whether `components` would leave `directory` if their symlinks were followed (still
    /// confined, no magic links, no mount crossing): the kernel answers EXDEV when a symlink or a
    /// `..` would take the walk above `directory`. Opens nothing readable (O_PATH).
    static func leaves(_ directory: Int32, _ components: [Component]) -> Bool {
        guard kernelHasOpenat2, !components.isEmpty else { return false }
        let fd = confined(directory, Component.joined(components), flags: oPath, mode: 0,
                          resolve: UInt64(WARDEN_RESOLVE_BENEATH | WARDEN_RESOLVE_NO_MAGICLINKS | WARDEN_RESOLVE_NO_XDEV))
        if fd >= 0 {
            close(fd)
            return false
        }
        return errno == EXDEV
    }

    private static func confined(_ directory: Int32, _ path: [CChar], flags: Int32, mode: mode_t, resolve: UInt64) -> Int32 {
        for _ in 0...retries {
            let fd = warden_openat2(directory, path, UInt64(flags | O_CLOEXEC), UInt64(mode), resolve)
            // EAGAIN: a concurrent rename anywhere in the system made the walk unsure; retry.
            if fd < 0 && errno == EAGAIN { continue }
            return fd
        }
        return -1
    }

    /// The fallback resolution: every directory on the way opened with O_NOFOLLOW, checked to be
    /// a directory on the same device, then the last component with O_NOFOLLOW.
    private static func walk(_ directory: Int32, _ components: [Component], flags: Int32, mode: mode_t) -> Int32 {
        var top = stat()
        guard fstat(directory, &top) == 0 else { return -1 }
        var current = directory
        defer { if current != directory { close(current) } }
        for component in components.dropLast() {
            let next = openat(current, component.name, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                if errno == ENOTDIR, isSymlink(current, component) { errno = ELOOP }
                return -1
            }
            var info = stat()
            guard fstat(next, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_dev == top.st_dev else {
                close(next)
                errno = EXDEV
                return -1
            }
            if current != directory { close(current) }
            current = next
        }
        guard let last = components.last else { return -1 }
        let fd = openat(current, last.name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return -1 }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_dev == top.st_dev else {
            close(fd)
            errno = EXDEV
            return -1
        }
        return fd
    }

    static func isSymlink(_ directory: Int32, _ component: Component) -> Bool {
        var info = stat()
        return fstatat(directory, component.name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }
}
