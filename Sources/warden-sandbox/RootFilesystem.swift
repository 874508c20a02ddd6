import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// Builds the sandbox's root: a fresh tmpfs with read-only views of the system directories and
/// of the spec's extra paths, a new `/proc`, a minimal `/dev`, a private size-limited `/tmp`;
/// then `pivot_root` into it and detach the host's tree. Runs as pid 1 of the new pid
/// namespace, privileged only inside the new user namespace.
///
/// Each read-only view is a read-only overlay of the host path (a file's view: a file of an
/// overlay of its directory), not a bind: the sandbox sees the host's bytes through inodes of
/// its own overlay, so a lock it takes on `/etc/passwd` is not the host's lock nor another
/// sandbox's, and inotify on its files does not see the host's reads. Where the kernel refuses
/// such an overlay the path is bound as before and named in `sharedInodes` (the spawn report's
/// `notApplied`). Device nodes and the broker's socket are always bound: the kernel opens
/// neither through a file system a user namespace mounted.
///
/// In two steps: `prepare` (the policy's part, which a standby launcher does ahead of need) and
/// `finish` (the run's binds, then the switch into the new root).
struct RootFilesystem {
    private let base = "/tmp"
    private let newRoot = "/newroot"
    private let oldRoot = "/oldroot"

    /// The system binds actually made (missing host paths are skipped).
    private(set) var mounted: [String] = []
    /// The size of the /tmp actually mounted.
    private(set) var tmpSizeBytes: UInt64 = 0
    /// Read-only views that had to be bound (sharing the host's inodes) because an overlay of
    /// them could not be mounted.
    private(set) var sharedInodes: [String] = []
    /// An empty directory, the upper of the two layers every read-only overlay needs.
    private let emptyLayer = "/.empty"
    /// Where overlays of bound files' directories are mounted, one numbered directory each.
    private let fileLayers = "/.layers"
    private var layerCount = 0

    mutating func prepare(systemBinds: [String], tmpSizeBytes: UInt64) throws(LaunchFailure) {
        // A slave, not private: nothing done here reaches the host, but mounts wardend makes
        // later under its shared runs/ directory (a run's world tmpfs, mounted after this
        // launcher stood by) still reach this namespace, to be bound at /srv/hosts.
        try check("make / a slave", mount(nil, "/", nil, UInt(MS_REC | MS_SLAVE), nil))
        try check("mount the staging tmpfs", mount("tmpfs", base, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755,size=1m"))
        try check("mkdir newroot", mkdir(base + newRoot, 0o755))
        try check("mkdir oldroot", mkdir(base + oldRoot, 0o755))
        try check("mount the root tmpfs", mount("tmpfs", base + newRoot, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755,size=4m"))
        try check("pivot_root to the staging tmpfs", warden_pivot_root(base, base + oldRoot))
        try check("chdir /", chdir("/"))
        try check("mkdir the empty layer", mkdir(emptyLayer, 0o555))
        try check("mkdir the file layers", mkdir(fileLayers, 0o700))

        for path in systemBinds { try bindSystem(path) }
        try mountProc()
        try mountDev()
        try check("mkdir /tmp", mkdir(newRoot + "/tmp", 0o1777))
        try check("mount /tmp", mount("tmpfs", newRoot + "/tmp", "tmpfs", UInt(MS_NOSUID | MS_NODEV),
                                      "mode=1777,size=\(tmpSizeBytes)"))
        try check("chmod /tmp", chmod(newRoot + "/tmp", 0o1777))
        self.tmpSizeBytes = tmpSizeBytes
    }

    mutating func finish(binds: [SandboxSpec.Bind], writableBinds: [SandboxSpec.Bind]) throws(LaunchFailure) {
        // Extra binds last, so one whose path lies under /tmp lands on the private /tmp.
        for bind in binds { try bindReadOnly(source: oldRoot + bind.source, target: newRoot + bind.target, label: bind.target) }
        for bind in writableBinds { try bindWritable(source: oldRoot + bind.source, target: newRoot + bind.target, label: bind.target) }
        try check("make the root read-only", mount(nil, newRoot, nil, UInt(MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV), nil))

        try check("chdir new root", chdir(newRoot))
        try check("pivot_root to the new root", warden_pivot_root(".", "."))
        try check("detach the host tree", umount2(".", Int32(MNT_DETACH)))
        try check("chdir /", chdir("/"))
    }

    private mutating func bindSystem(_ path: String) throws(LaunchFailure) {
        let source = oldRoot + path
        var info = stat()
        guard lstat(source, &info) == 0 else { return }  // not on this host
        if info.st_mode & S_IFMT == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
            let n = readlink(source, &buffer, buffer.count - 1)
            guard n > 0 else { throw LaunchFailure(step: "readlink \(path)", errno: errno) }
            try mkdirs(parent(newRoot + path))
            let destination = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            try check("symlink \(path)", symlink(destination, newRoot + path))
            mounted.append(path)
            return
        }
        try bindReadOnly(source: source, target: newRoot + path, label: path)
        mounted.append(path)
    }

    /// A read-only view of `source` at `target`: an overlay of it (of its directory, for a file),
    /// else a bind. Sockets and device nodes are bound.
    private mutating func bindReadOnly(source: String, target: String, label: String) throws(LaunchFailure) {
        var info = stat()
        guard stat(source, &info) == 0 else { throw LaunchFailure(step: "bind \(label): source missing", errno: errno) }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            try mkdirs(target)
            if overlay(source, at: target) { return }
        } else {
            try mkdirs(parent(target))
            let fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw LaunchFailure(step: "create mount point \(label)", errno: errno) }
            close(fd)
            if kind == S_IFREG, let view = fileView(source) {
                try check("bind \(label)", mount(view, target, nil, UInt(MS_BIND), nil))
                try check("make \(label) read-only", warden_mount_setattr_readonly(target))
                return
            }
        }
        if kind == S_IFDIR || kind == S_IFREG { sharedInodes.append(label) }
        try check("bind \(label)", mount(source, target, nil, UInt(MS_BIND | MS_REC), nil))
        try check("make \(label) read-only", warden_mount_setattr_readonly(target))
    }

    /// Mounts a read-only overlay of the directory `source` at `target`; false if the kernel
    /// refuses it.
    private func overlay(_ source: String, at target: String) -> Bool {
        let options = "lowerdir=\(OverlayOptions.escaped(source)):\(emptyLayer)"
        return mount("overlay", target, "overlay", UInt(MS_RDONLY | MS_NOSUID | MS_NODEV), options) == 0
    }

    /// The regular file `source` as seen through an overlay of its directory (mounted once per
    /// file under `fileLayers`), or nil if that overlay cannot be mounted.
    private mutating func fileView(_ source: String) -> String? {
        layerCount += 1
        let layer = fileLayers + "/\(layerCount)"
        guard mkdir(layer, 0o700) == 0, overlay(parent(source), at: layer) else { return nil }
        return layer + "/" + URL(fileURLWithPath: source).lastPathComponent
    }

    /// The world's hosts: read-write, but never a way to gain privileges or reach devices.
    private func bindWritable(source: String, target: String, label: String) throws(LaunchFailure) {
        try mkdirs(target)
        try check("bind \(label)", mount(source, target, nil, UInt(MS_BIND | MS_REC), nil))
        try check("make \(label) nosuid,nodev", mount(nil, target, nil, UInt(MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV), nil))
    }

    private func mountProc() throws(LaunchFailure) {
        try check("mkdir /proc", mkdir(newRoot + "/proc", 0o555))
        try check("mount /proc", mount("proc", newRoot + "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil))
    }

    private func mountDev() throws(LaunchFailure) {
        let dev = newRoot + "/dev"
        try check("mkdir /dev", mkdir(dev, 0o755))
        try check("mount /dev", mount("tmpfs", dev, "tmpfs", UInt(MS_NOSUID | MS_NOEXEC), "mode=0755,size=64k"))
        for node in ["null", "zero", "full", "random", "urandom", "tty"] {
            let fd = open(dev + "/" + node, O_CREAT | O_WRONLY | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw LaunchFailure(step: "create /dev/\(node)", errno: errno) }
            close(fd)
            try check("bind /dev/\(node)", mount(oldRoot + "/dev/" + node, dev + "/" + node, nil, UInt(MS_BIND), nil))
        }
        for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                               ("stderr", "/proc/self/fd/2")] {
            try check("symlink /dev/\(name)", symlink(target, dev + "/" + name))
        }
        try check("mkdir /dev/shm", mkdir(dev + "/shm", 0o1777))
        try check("mount /dev/shm", mount("tmpfs", dev + "/shm", "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "mode=1777,size=16m"))
        try check("make /dev read-only", mount(nil, dev, nil, UInt(MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC), nil))
    }

    private func parent(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().path
    }
}
