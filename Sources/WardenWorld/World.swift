import CWardenWorld
import Glibc
import WardenCore
import WardenScenario
import WardenVocabulary

/// A run's world on disk: one directory per host under `hosts/ADDRESS` of a world root that
/// wardend made and holds open. Tools, injections, snapshots and the final copy act on it
/// through this type alone, and it keeps three promises whatever the agents do to the tree:
///
/// - **Nothing outside the world is reached.** Paths are split into `Component`s on their bytes;
///   every file is opened beneath the root descriptor with `Beneath` (no symlink, magic link,
///   mount or `..` followed, checked by the kernel component by component); every change is
///   made relative to the descriptor of the directory holding the file (`unlinkat`,
///   `renameat2`, `mkdirat`, `fchmod`, `futimens`). No absolute host path is taken or built. And
///   the work runs on threads Landlock confines to the world's tree (`WorldThread`), so a bug
///   here still reaches nothing outside it.
/// - **Nothing the agent could not do.** The worker thread has the agent's rights
///   (`AgentRights`): a file the agent cannot read, or a directory it cannot write, fails with
///   the errno the agent would get.
/// - **Nothing unbounded.** Reads stop at their limit, hashes and copies stream through a fixed
///   buffer and read no holes, walks are bounded in entries (more than a full world holds, so a
///   world on its tmpfs is always walked whole) and in descriptors, snapshots and listings in
///   the bytes of keys they spell (shortest first), hashing in bytes per snapshot, and a file
///   whose apparent size is over `sizeLimit` is never read whole (`WorldBounds`).
public final class World: Sendable {
    public let labels: WorldLabels
    public let rights: AgentRights
    /// The world's size (the sandbox policy's `world_size`), bounding reads, hashes and copies.
    public let sizeLimit: UInt64
    /// How symlinks in the world are judged (where the sandbox sees the hosts, its system paths).
    public let escapes: EscapePaths
    let root: Descriptor
    let worker: WorldThread
    let observer: WorldThread
    /// Traces contents (`trace`) with the observer's rights, so a long trace never holds up
    /// the snapshots taken at tool calls and supervised syscalls.
    let tracer: WorldThread
    /// Hashes of files unchanged since a snapshot read them.
    let hashes: HashCache

    public var addresses: [String] { labels.addresses }
    public var deleteQueue: (host: String, path: String)? { labels.deleteQueue }

    init(root: Descriptor, labels: WorldLabels, rights: AgentRights, sizeLimit: UInt64, escapes: EscapePaths) {
        self.escapes = escapes
        self.root = root
        self.labels = labels
        self.rights = rights
        self.sizeLimit = sizeLimit
        hashes = HashCache(capacity: 2 * World.names(fitting: sizeLimit))
        worker = WorldThread(role: .worker, root: root, rights: rights, name: "world-worker")
        observer = WorldThread(role: .observer, root: root, rights: rights, name: "world-observer")
        tracer = WorldThread(role: .observer, root: root, rights: rights, name: "world-tracer")
    }

    deinit {
        worker.stop()
        observer.stop()
        tracer.stop()
    }

    /// Whether the kernel confines path resolution itself (openat2, Linux 5.6+). Without it
    /// resolution walks component by component, which is safe only for trees no sandbox changes
    /// while the daemon works: wardend then refuses scenarios that give an agent the shell.
    public static var kernelConfinesResolution: Bool { Beneath.kernelHasOpenat2 }

    /// Why a scenario cannot run here, or nil. One whose agents have the shell needs `confined`
    /// (`kernelConfinesResolution`), and agents whose rights are `separate` from wardend's
    /// (`AgentRights.separateFromWardend`): otherwise the agent's uid is wardend's own, owns the
    /// world's `hosts` directory, and from its shell could put files beside the hosts or rename
    /// and replace the hosts themselves.
    public static func shellProblem(_ scenario: Scenario, confined: Bool = kernelConfinesResolution,
                                    separate: Bool = AgentRights.separateFromWardend) -> String? {
        guard let agent = scenario.agents.first(where: { $0.tools.contains(ToolName.bash.rawValue) }) else { return nil }
        if !confined {
            return "agent \(agent.id) has the bash tool, but this kernel lacks openat2 (Linux 5.6+), which keeps a shell's "
                + "symlinks and renames from leading wardend's own file tools out of the world; run shell scenarios on a newer kernel"
        }
        if !separate {
            return "agent \(agent.id) has the bash tool, but wardend does not run as root, so its sandbox can only map the agent to "
                + "wardend's own uid: the agent would own the world's hosts directory and could hide files beside the hosts or "
                + "rename and replace them; run shell scenarios with wardend as root"
        }
        return nil
    }

    /// How the world's threads are confined (for the run's `world.snapshot` event).
    public func confinement() async -> [String: String] {
        _ = try? await worker.run {}
        _ = try? await observer.run {}
        return ["worker": worker.confinement ?? "not started", "observer": observer.confinement ?? "not started"]
    }

    // MARK: tools

    public struct Listing: Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var modified: Int64
    }

    /// The host's regular files. Their paths are spelled within `spellingBudget`, shortest first:
    /// a host of deep, long names is listed but for its longest paths.
    public func listFiles(host: String) async throws(WorldError) -> [Listing] {
        try await worker.run { () throws(WorldError) in
            let directory = try self.reach(host: host, flags: O_RDONLY | O_DIRECTORY)
            let walk = WorldWalk(maxEntries: self.walkEntries)
            var files: [(directory: Int32, name: Component, size: Int64, modified: Int64)] = []
            var costs: [Int] = []
            walk.run(in: directory.fd) { visit in
                guard visit.kind == .file else { return }
                files.append((visit.directory, visit.name, Int64(visit.info.st_size), Int64(visit.info.st_mtim.tv_sec)))
                costs.append(visit.spelledCount)
            }
            return WorldWalk.cheapestFirst(costs, budget: self.spellingBudget).kept.map { index in
                let file = files[index]
                return Listing(path: walk.shown(file.directory, file.name), size: file.size, modified: file.modified)
            }.sorted { $0.path < $1.path }
        }
    }

    /// At most `limit` bytes from the start of the file, and its size.
    public func readFile(host: String, path: String, limit: Int) async throws(WorldError) -> (bytes: [UInt8], size: Int) {
        try await worker.run { () throws(WorldError) in
            let file = try self.openRegular(host: host, path: path, flags: O_RDONLY | O_NONBLOCK, doing: "read")
            let size = Int(file.info.st_size)
            return (try FileCopy.read(file.descriptor.fd, upTo: min(limit, size), describing: "\(path) on \(host)"), size)
        }
    }

    /// Copies a file to another host (or the same one), keeping its modification time and
    /// mode, as `scp -p` would. Holes of a sparse source stay holes.
    public func transfer(from source: String, path: String, to destination: String, destinationPath: String?) async throws(WorldError) {
        let target = destinationPath ?? path
        try await worker.run { () throws(WorldError) in
            let from = try self.openRegular(host: source, path: path, flags: O_RDONLY | O_NONBLOCK, doing: "read")
            let (directory, name) = try self.parent(host: destination, path: target, create: true)
            var existing = stat()
            if fstatat(directory.fd, name.name, &existing, AT_SYMLINK_NOFOLLOW) == 0,
               existing.st_dev == from.info.st_dev, existing.st_ino == from.info.st_ino {
                throw WorldError(.failed, "source and destination are the same file")
            }
            let to = try self.create(in: directory, name, host: destination, path: target)
            var budget = self.sizeLimit
            try FileCopy.copy(from: from.descriptor.fd, to: to.fd, size: Int64(from.info.st_size), budget: &budget,
                              describing: "\(target) on \(destination)")
            guard fchmod(to.fd, from.info.st_mode & 0o777) == 0 else {
                throw WorldError(.failed, "cannot set the mode of \(target) on \(destination)", errno: errno)
            }
            try Self.setTimes(to.fd, seconds: Int64(from.info.st_mtim.tv_sec), describing: "\(target) on \(destination)")
        }
    }

    public func rename(host: String, path: String, newPath: String) async throws(WorldError) {
        try await worker.run { () throws(WorldError) in
            let (from, fromName) = try self.parent(host: host, path: path, create: false)
            try self.requireRegular(in: from, fromName, host: host, path: path)
            let (to, toName) = try self.parent(host: host, path: newPath, create: true)
            guard warden_renameat2(from.fd, fromName.name, to.fd, toName.name, 0) == 0 else {
                throw WorldError(.failed, "cannot rename \(path) on \(host)", errno: errno)
            }
        }
    }

    public func delete(host: String, path: String) async throws(WorldError) {
        try await worker.run { () throws(WorldError) in
            let (directory, name) = try self.parent(host: host, path: path, create: false)
            try self.requireRegular(in: directory, name, host: host, path: path)
            guard unlinkat(directory.fd, name.name, 0) == 0 else { throw WorldError(.failed, "cannot delete \(path) on \(host)", errno: errno) }
        }
    }

    /// Writes a text file (creating it, or replacing its content and keeping its mode).
    public func write(host: String, path: String, content: String) async throws(WorldError) {
        try await worker.run { () throws(WorldError) in
            let (directory, name) = try self.parent(host: host, path: path, create: true)
            let file = try self.create(in: directory, name, host: host, path: path)
            try FileCopy.write(file.fd, Array(content.utf8), describing: "\(path) on \(host)")
        }
    }

    /// Appends `HOST:PATH` to the delete queue, after checking the named file exists.
    public func queueDeletion(host: String, path: String, queue: (host: String, path: String)) async throws(WorldError) {
        let (queueHost, queuePath) = queue
        try await worker.run { () throws(WorldError) in
            _ = try self.openRegular(host: host, path: path, flags: oPath, doing: "queue")
            let (directory, name) = try self.parent(host: queueHost, path: queuePath, create: true)
            let fd = Beneath.open(directory.fd, name, flags: O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, mode: 0o644)
            guard fd >= 0 else { throw self.refusalOrFailure(errno, host: queueHost, path: queuePath, "the delete queue cannot be written") }
            let queueFile = Descriptor(owning: fd)
            try FileCopy.write(queueFile.fd, Array("\(host):\(path)\n".utf8), append: true, describing: "the delete queue")
        }
    }

    /// Sets the file's modification (and access) time.
    public func touch(host: String, path: String, seconds: Int64) async throws(WorldError) {
        try await worker.run { () throws(WorldError) in
            let (directory, name) = try self.parent(host: host, path: path, create: false)
            try self.requireRegular(in: directory, name, host: host, path: path)
            var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
            guard utimensat(directory.fd, name.name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw WorldError(.failed, "cannot set the time of \(path) on \(host)", errno: errno)
            }
        }
    }

    // MARK: the daemon's reads

    /// The file's content if it is a regular file of at most `limit` bytes; nil otherwise. For the
    /// daemon's own reads (detectors, the world's shutdown condition), on the observer thread.
    public func contents(host: String, path: String, limit: Int = 1 << 20) async -> [UInt8]? {
        try? await observer.run { () throws(WorldError) -> [UInt8]? in
            let file = try self.openRegular(host: host, path: path, flags: O_RDONLY | O_NONBLOCK, doing: "read")
            guard file.info.st_size <= limit else { return nil }
            return try FileCopy.read(file.descriptor.fd, upTo: Int(file.info.st_size), describing: "\(path) on \(host)")
        }
    }

    /// The contents of several files by `WorldKey`, as `contents(host:path:)` reads each (the
    /// files detectors read: `DetectorEngine.filesRead`).
    public func contents(of places: [(host: String, path: String)]) async -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for place in places { files[WorldKey.of(host: place.host, path: place.path)] = await contents(host: place.host, path: place.path) }
        return files
    }

    // MARK: resolution (on a world thread)

    /// `path` on `host` as components beneath the root (`hosts`, the host, the path's parts).
    func components(host: String, path: String?) throws(WorldError) -> [Component] {
        guard addresses.contains(host), let hostName = Component(Array(host.utf8)) else {
            throw WorldError(.invalidPath, "unknown server '\(host)' (known: \(addresses.joined(separator: ", ")))")
        }
        let top = [Component(Array("hosts".utf8))!, hostName]
        guard let path else { return top }
        switch Component.path(path) {
        case .success(let parts): return top + parts
        case .failure(let problem):
            let shown = WorldKey.spell(Array(path.utf8).prefix(200)) + (path.utf8.count > 200 ? "…" : "")
            throw WorldError(.invalidPath, "invalid path '\(shown)' on \(host): \(problem.why)", errno: problem.tooLong ? ENAMETOOLONG : nil)
        }
    }

    /// The host's directory (or `path` on it) opened beneath the root.
    func reach(host: String, path: String? = nil, flags: Int32, mode: mode_t = 0) throws(WorldError) -> Descriptor {
        let parts = try components(host: host, path: path)
        let fd = Beneath.open(root.fd, parts, flags: flags, mode: mode)
        guard fd >= 0 else { throw refusalOrFailure(errno, host: host, path: path ?? "", path == nil ? "cannot open server \(host)" : nil) }
        return Descriptor(owning: fd)
    }

    /// A regular file opened beneath the root, with its status.
    func openRegular(host: String, path: String, flags: Int32, doing verb: String) throws(WorldError) -> (descriptor: Descriptor, info: stat) {
        let file = try reach(host: host, path: path, flags: flags)
        guard let info = file.stat() else { throw WorldError(.failed, "cannot \(verb) \(path) on \(host)", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw WorldError(.failed, "\(path) on \(host) is not a file") }
        return (file, info)
    }

    /// The directory that holds `path` on `host`, opened beneath the root, and the last
    /// component. With `create`, missing directories on the way are made (mode 0755, as the agent).
    func parent(host: String, path: String, create: Bool) throws(WorldError) -> (Descriptor, Component) {
        var parts = try components(host: host, path: path)
        let name = parts.removeLast()
        var directory = try reach(host: host, flags: oPath | O_DIRECTORY)
        for part in parts.dropFirst(2) {
            var fd = Beneath.open(directory.fd, part, flags: oPath | O_DIRECTORY)
            if fd < 0, errno == ENOENT, create {
                if mkdirat(directory.fd, part.name, 0o755) != 0, errno != EEXIST {
                    throw WorldError(.failed, "cannot create a directory for \(path) on \(host)", errno: errno)
                }
                fd = Beneath.open(directory.fd, part, flags: oPath | O_DIRECTORY)
            }
            guard fd >= 0 else { throw refusalOrFailure(errno, host: host, path: path, nil) }
            directory = Descriptor(owning: fd)
        }
        return (directory, name)
    }

    /// Opens (creating if absent) the regular file `name` in `directory` for writing, emptied.
    func create(in directory: Descriptor, _ name: Component, host: String, path: String) throws(WorldError) -> Descriptor {
        let fd = Beneath.open(directory.fd, name, flags: O_WRONLY | O_CREAT | O_NONBLOCK, mode: 0o644)
        guard fd >= 0 else { throw refusalOrFailure(errno, host: host, path: path, "cannot write \(path) on \(host)") }
        let file = Descriptor(owning: fd)
        guard let info = file.stat(), info.st_mode & S_IFMT == S_IFREG else { throw WorldError(.failed, "\(path) on \(host) is not a file") }
        guard ftruncate(file.fd, 0) == 0 else { throw WorldError(.failed, "cannot write \(path) on \(host)", errno: errno) }
        return file
    }

    func requireRegular(in directory: Descriptor, _ name: Component, host: String, path: String) throws(WorldError) {
        var info = stat()
        guard fstatat(directory.fd, name.name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw refusalOrFailure(errno, host: host, path: path, nil) }
        if info.st_mode & S_IFMT == S_IFLNK { throw refusalOrFailure(ELOOP, host: host, path: path, nil) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw WorldError(.failed, "\(path) on \(host) is not a file") }
    }

    /// The error for a failed resolution or operation. ELOOP and EXDEV mean the path's
    /// resolution was refused; the symlink in the way is found and judged (`judgeSymlink`): the
    /// refusal says whether following it would have left the world, and where it is.
    func refusalOrFailure(_ error: Int32, host: String, path: String, _ message: String?) -> WorldError {
        let place = path.isEmpty ? host : "\(path) on \(host)"
        switch error {
        case ELOOP, EXDEV:
            let found = (try? components(host: host, path: path.isEmpty ? nil : path)).flatMap { blockingSymlink(in: $0) }
            let leaves = error == EXDEV || found?.judgement.leavesWorld == true
            let refusal = Refusal(place: WorldKey.of(host: host, path: path), errno: error, leavesWorld: leaves, link: found?.key)
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

    /// The first symlink on `parts` (from the root), with its key and judgement.
    func blockingSymlink(in parts: [Component]) -> (key: String, judgement: EscapePaths.Judgement)? {
        var directory = root
        for (index, part) in parts.enumerated() {
            var info = stat()
            guard fstatat(directory.fd, part.name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
            if info.st_mode & S_IFMT == S_IFLNK {
                if index == 1 {
                    return (WorldKey.spell(part.bytes), EscapePaths.Judgement(leavesWorld: true, reason: "a symlink where a host directory is"))
                }
                guard index >= 2, let target = Self.readLink(directory.fd, part) else { return nil }
                return (WorldKey.spell(Component.joined(Array(parts[1...index])).dropLast().map { UInt8(bitPattern: $0) }),
                        judgeSymlink(at: Array(parts[2...index]), host: parts[1], target: target, followed: true))
            }
            guard index < parts.count - 1 else { return nil }
            let fd = Beneath.open(directory.fd, part, flags: oPath | O_DIRECTORY)
            guard fd >= 0 else { return nil }
            directory = Descriptor(owning: fd)
        }
        return nil
    }

    static func readLink(_ directory: Int32, _ name: Component) -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(directory, name.name, &buffer, 4096)
        guard n >= 0 else { return nil }
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }

    static func setTimes(_ fd: Int32, seconds: Int64, describing name: String) throws(WorldError) {
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        guard futimens(fd, &times) == 0 else { throw WorldError(.failed, "cannot set the time of \(name)", errno: errno) }
    }
}
