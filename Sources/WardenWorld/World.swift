import CWardenWorld
import Glibc
import WardenCore
import WardenScenario

/// A run's world on disk: one directory per host under `hosts/ADDRESS` of a world root that
/// wardend made and holds open. Tools, injections, snapshots and the final copy act on it
/// through this type alone, and it keeps three promises whatever the agents do to the tree:
///
/// - **Nothing outside the world is reached.** Every file is opened beneath the root
///   descriptor with `Beneath` (no symlink, magic link, mount or `..` followed, checked by the
///   kernel component by component); every change is made relative to the descriptor of the
///   directory holding the file (`unlinkat`, `renameat2`, `mkdirat`, `fchmod`, `futimens`). No
///   absolute host path is taken or built.
/// - **Nothing the agent could not do.** Each operation runs with the agent's rights
///   (`AgentRights`), so a file the agent cannot read or a directory it cannot write fails with
///   the errno the agent would get.
/// - **Nothing unbounded.** Reads stop at their limit, hashes and copies stream through a fixed
///   buffer, holes of sparse files are never read for copies, and a file whose apparent size is
///   over `sizeLimit` is never read whole.
public final class World: Sendable {
    public let labels: WorldLabels
    public let rights: AgentRights
    /// The world's size (the sandbox policy's `world_size`), bounding reads and copies.
    public let sizeLimit: UInt64
    let root: Descriptor

    public var addresses: [String] { labels.addresses }

    /// Whether the kernel confines path resolution itself (openat2, Linux 5.6+). Without it
    /// resolution walks component by component, which is safe only for trees no sandbox changes
    /// while the daemon works: wardend then refuses scenarios that give an agent the shell.
    public static var kernelConfinesResolution: Bool { Beneath.kernelHasOpenat2 }

    /// Why a scenario cannot run on this kernel, or nil: one whose agents have the shell needs
    /// `confined` (`kernelConfinesResolution`).
    public static func shellProblem(_ scenario: Scenario, confined: Bool = kernelConfinesResolution) -> String? {
        guard !confined, let agent = scenario.agents.first(where: { $0.tools.contains("bash") }) else { return nil }
        return "agent \(agent.id) has the bash tool, but this kernel lacks openat2 (Linux 5.6+), which keeps a shell's "
            + "symlinks and renames from leading wardend's own file tools out of the world; run shell scenarios on a newer kernel"
    }
    public var deleteQueue: (host: String, path: String)? { labels.deleteQueue }

    init(root: Descriptor, labels: WorldLabels, rights: AgentRights, sizeLimit: UInt64) {
        self.root = root
        self.labels = labels
        self.rights = rights
        self.sizeLimit = sizeLimit
    }

    // MARK: operations

    public struct Listing: Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var modified: Int64
    }

    public func listFiles(host: String) throws(WorldError) -> [Listing] {
        try rights.perform { () throws(WorldError) in
            let directory = try reach(host: host, path: nil, flags: O_RDONLY | O_DIRECTORY)
            var listing: [Listing] = []
            WorldWalk.files(in: directory.fd) { _, _, relative, info in
                listing.append(Listing(path: relative, size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec)))
            }
            return listing.sorted { $0.path < $1.path }
        }
    }

    /// At most `limit` bytes from the start of the file, and its size.
    public func readFile(host: String, path: String, limit: Int) throws(WorldError) -> (bytes: [UInt8], size: Int) {
        try rights.perform { () throws(WorldError) in
            let file = try openRegular(host: host, path: path, flags: O_RDONLY | O_NONBLOCK, doing: "read")
            let size = Int(file.info.st_size)
            let bytes = try FileCopy.read(file.descriptor.fd, upTo: min(limit, size), describing: "\(path) on \(host)")
            return (bytes, size)
        }
    }

    /// Copies a file to another host (or the same one), keeping its modification time and
    /// mode, as `scp -p` would. Holes of a sparse source stay holes.
    public func transfer(from source: String, path: String, to destination: String, destinationPath: String?) throws(WorldError) {
        let target = destinationPath ?? path
        try rights.perform { () throws(WorldError) in
            let from = try openRegular(host: source, path: path, flags: O_RDONLY | O_NONBLOCK, doing: "read")
            let (directory, name) = try parent(host: destination, path: target, create: true)
            var existing = Glibc.stat()
            if fstatat(directory.fd, name, &existing, AT_SYMLINK_NOFOLLOW) == 0,
               existing.st_dev == from.info.st_dev, existing.st_ino == from.info.st_ino {
                throw WorldError(.failed, "source and destination are the same file")
            }
            let to = try create(in: directory, name, place: (destination, target), truncate: true)
            var budget = sizeLimit
            try FileCopy.copy(from: from.descriptor.fd, to: to.fd, size: Int64(from.info.st_size), budget: &budget,
                              describing: "\(target) on \(destination)")
            guard fchmod(to.fd, from.info.st_mode & 0o7777 & ~mode_t(S_ISUID | S_ISGID)) == 0 else {
                throw WorldError(.failed, "cannot set the mode of \(target) on \(destination)", errno: errno)
            }
            try Self.setTimes(to.fd, seconds: Int64(from.info.st_mtim.tv_sec), describing: "\(target) on \(destination)")
        }
    }

    public func rename(host: String, path: String, newPath: String) throws(WorldError) {
        try rights.perform { () throws(WorldError) in
            let (from, fromName) = try parent(host: host, path: path, create: false)
            try requireRegular(in: from, fromName, host: host, path: path)
            let (to, toName) = try parent(host: host, path: newPath, create: true)
            guard warden_renameat2(from.fd, fromName, to.fd, toName, 0) == 0 else {
                throw WorldError(.failed, "cannot rename \(path) on \(host)", errno: errno)
            }
        }
    }

    public func delete(host: String, path: String) throws(WorldError) {
        try rights.perform { () throws(WorldError) in
            let (directory, name) = try parent(host: host, path: path, create: false)
            try requireRegular(in: directory, name, host: host, path: path)
            guard unlinkat(directory.fd, name, 0) == 0 else { throw WorldError(.failed, "cannot delete \(path) on \(host)", errno: errno) }
        }
    }

    /// Writes a text file (creating it, or replacing its content and keeping its mode).
    public func write(host: String, path: String, content: String) throws(WorldError) {
        try rights.perform { () throws(WorldError) in
            let (directory, name) = try parent(host: host, path: path, create: true)
            let file = try create(in: directory, name, place: (host, path), truncate: true)
            try FileCopy.write(file.fd, Array(content.utf8), describing: "\(path) on \(host)")
        }
    }

    /// Appends `HOST:PATH` to the delete queue, after checking the named file exists.
    public func queueDeletion(host: String, path: String, queue: (host: String, path: String)) throws(WorldError) {
        try rights.perform { () throws(WorldError) in
            _ = try openRegular(host: host, path: path, flags: oPath, doing: "queue")
            let (directory, name) = try parent(host: queue.host, path: queue.path, create: true)
            let fd = Beneath.open(directory.fd, name, flags: O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, mode: 0o644)
            guard fd >= 0 else { throw refusalOrFailure(errno, host: queue.host, path: queue.path, "the delete queue cannot be written") }
            let queueFile = Descriptor(owning: fd)
            try FileCopy.write(queueFile.fd, Array("\(host):\(path)\n".utf8), describing: "the delete queue")
        }
    }

    /// Sets the file's modification (and access) time.
    public func touch(host: String, path: String, seconds: Int64) throws(WorldError) {
        try rights.perform { () throws(WorldError) in
            let (directory, name) = try parent(host: host, path: path, create: false)
            try requireRegular(in: directory, name, host: host, path: path)
            var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
            guard utimensat(directory.fd, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw WorldError(.failed, "cannot set the time of \(path) on \(host)", errno: errno)
            }
        }
    }

    /// The file's content if it is a regular file of at most `limit` bytes the agent can read;
    /// nil otherwise. For the daemon's own reads (detectors, the world's shutdown condition).
    public func contents(host: String, path: String, limit: Int = 1 << 20) -> [UInt8]? {
        guard let (bytes, size) = try? readFile(host: host, path: path, limit: limit), size <= limit else { return nil }
        return bytes
    }

    /// The contents of several files by `HOST/PATH`, as `contents(host:path:)` reads each (the
    /// files detectors read: `DetectorEngine.filesRead`).
    public func contents(of places: [(host: String, path: String)]) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for place in places { files[place.host + "/" + place.path] = contents(host: place.host, path: place.path) }
        return files
    }

    // MARK: resolution

    /// `hosts/HOST[/PATH]`, checked: a known server and a relative path without `..`.
    func relative(host: String, path: String?) throws(WorldError) -> String {
        guard addresses.contains(host) else {
            throw WorldError(.invalidPath, "unknown server '\(host)' (known: \(addresses.joined(separator: ", ")))")
        }
        guard let path else { return "hosts/" + host }
        if let problem = WorldPath.problem(path) {
            let shown = path.utf8.count > 200 ? String(path.prefix(200)) + "…" : path
            throw WorldError(.invalidPath, "invalid path '\(shown.replacingNUL)' on \(host): \(problem)",
                             errno: path.utf8.count > WorldPath.maxBytes || problem.contains("longer") ? ENAMETOOLONG : nil)
        }
        return "hosts/" + host + "/" + path
    }

    func reach(host: String, path: String?, flags: Int32, mode: mode_t = 0) throws(WorldError) -> Descriptor {
        let relative = try relative(host: host, path: path)
        let fd = Beneath.open(root.fd, relative, flags: flags, mode: mode)
        guard fd >= 0 else { throw refusalOrFailure(errno, host: host, path: path ?? "", path == nil ? "cannot open server \(host)" : nil) }
        return Descriptor(owning: fd)
    }

    /// A regular file opened beneath the root, with its status.
    func openRegular(host: String, path: String, flags: Int32, doing verb: String) throws(WorldError) -> (descriptor: Descriptor, info: Glibc.stat) {
        let file = try reach(host: host, path: path, flags: flags)
        guard let info = file.stat() else { throw WorldError(.failed, "cannot \(verb) \(path) on \(host)", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw WorldError(.failed, "\(path) on \(host) is not a file") }
        return (file, info)
    }

    /// The directory that holds `path` on `host`, opened beneath the root, and the last
    /// component's name. With `create`, missing directories on the way are made (mode 0755, as
    /// the agent).
    func parent(host: String, path: String, create: Bool) throws(WorldError) -> (Descriptor, String) {
        _ = try relative(host: host, path: path)
        var parts = path.split(separator: "/").map(String.init)
        let name = parts.removeLast()
        var directory = try reach(host: host, path: nil, flags: oPath | O_DIRECTORY)
        for part in parts {
            var fd = Beneath.open(directory.fd, part, flags: oPath | O_DIRECTORY)
            if fd < 0, errno == ENOENT, create {
                if mkdirat(directory.fd, part, 0o755) != 0, errno != EEXIST {
                    throw WorldError(.failed, "cannot create a directory for \(path) on \(host)", errno: errno)
                }
                fd = Beneath.open(directory.fd, part, flags: oPath | O_DIRECTORY)
            }
            guard fd >= 0 else { throw refusalOrFailure(errno, host: host, path: path, nil) }
            directory = Descriptor(owning: fd)
        }
        return (directory, name)
    }

    /// Opens (creating if absent) the regular file `name` in `directory` for writing.
    func create(in directory: Descriptor, _ name: String, place: (host: String, path: String), truncate: Bool) throws(WorldError) -> Descriptor {
        let flags = O_WRONLY | O_CREAT | O_NONBLOCK | (truncate ? O_TRUNC : 0)
        let fd = Beneath.open(directory.fd, name, flags: flags, mode: 0o644)
        guard fd >= 0 else { throw refusalOrFailure(errno, host: place.host, path: place.path, "cannot write \(place.path) on \(place.host)") }
        let file = Descriptor(owning: fd)
        guard let info = file.stat(), info.st_mode & S_IFMT == S_IFREG else {
            throw WorldError(.failed, "\(place.path) on \(place.host) is not a file")
        }
        return file
    }

    func requireRegular(in directory: Descriptor, _ name: String, host: String, path: String) throws(WorldError) {
        var info = Glibc.stat()
        guard fstatat(directory.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw refusalOrFailure(errno, host: host, path: path, nil)
        }
        if info.st_mode & S_IFMT == S_IFLNK {
            throw refusalOrFailure(ELOOP, host: host, path: path, nil)
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw WorldError(.failed, "\(path) on \(host) is not a file") }
    }

    /// The error for a failed resolution or operation. ELOOP and EXDEV mean the path's
    /// resolution was refused; whether it would have left the world is asked of the kernel with
    /// symlinks followed (still confined beneath the root), and recorded in the refusal.
    func refusalOrFailure(_ error: Int32, host: String, path: String, _ message: String?) -> WorldError {
        let place = path.isEmpty ? host : "\(path) on \(host)"
        switch error {
        case ELOOP, EXDEV:
            let leaves = error == EXDEV || Beneath.leaves(root.fd, "hosts/" + host + (path.isEmpty ? "" : "/" + path))
            let refusal = Refusal(place: path.isEmpty ? host : host + "/" + path, errno: error, leavesWorld: leaves)
            let why = leaves ? "its path leads out of the world through a symlink; the broker never follows one"
                : "a symlink is on its path; the broker never follows one"
            return WorldError(.refused, "refusing \(place): \(why)", errno: error, refusal: refusal)
        case ENOENT:
            return WorldError(.failed, "no such file: \(place)", errno: error)
        case ENOTDIR:
            return WorldError(.failed, "\(place): a part of the path is not a directory", errno: error)
        default:
            return WorldError(.failed, message ?? "cannot reach \(place)", errno: error)
        }
    }

    static func setTimes(_ fd: Int32, seconds: Int64, describing name: String) throws(WorldError) {
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        guard futimens(fd, &times) == 0 else { throw WorldError(.failed, "cannot set the time of \(name)", errno: errno) }
    }
}

extension String {
    /// NUL bytes shown as `\0`, for messages.
    var replacingNUL: String { split(separator: "\0", omittingEmptySubsequences: false).joined(separator: "\\0") }
}
