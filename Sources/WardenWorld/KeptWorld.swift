import Glibc
import WardenScenario

extension World {
    /// What `keep` copied, and what it could not.
    public struct Kept: Sendable {
        public var files = 0
        /// Bytes of data written (holes excluded).
        public var bytes: UInt64 = 0
        /// Files left out or cut, and why, one line each.
        public var problems: [String] = []
    }

    /// One entry of the world to keep, as the observer found it.
    struct Found: Sendable {
        var host: String
        var components: [Component]
        var spelled: String
        var symlinkTarget: [UInt8]?
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var mode: mode_t
        var times: [timespec]
    }

    /// Copies the world's regular files and symlinks into `destination` (a directory wardend
    /// made in its state directory), as `hosts/ADDRESS/PATH`. Each source is opened by the
    /// observer thread, beneath the root; the copy is written as wardend, from descriptor to
    /// descriptor. Holes stay holes, a file with several names is copied once and linked, and at
    /// most `sizeLimit` bytes of data are written in all, so the copy is never larger on disk
    /// than the world could be. Modes are kept but for write access of group and others.
    public func keep(into destination: Descriptor) async -> Kept {
        var kept = Kept()
        let listing: (found: [Found], problems: [String])
        do {
            listing = try await observer.run { () throws(WorldError) in self.listForKeeping() }
        } catch {
            kept.problems.append("the world could not be read: \(error)")
            return kept
        }
        kept.problems += listing.problems
        var budget = sizeLimit
        var copied: [String: (Descriptor, Component)] = [:]  // "dev:ino" → where its first name was kept
        for item in listing.found {
            let name = "\(item.host)/\(item.spelled)"
            do {
                let (directory, leaf) = try Self.destinationDirectory(destination, [Component(Array("hosts".utf8))!, Component(Array(item.host.utf8))!]
                    + item.components)
                if let target = item.symlinkTarget {
                    guard symlinkat(target.map { CChar(bitPattern: $0) } + [0], directory.fd, leaf.name) == 0 else {
                        throw WorldError(.failed, "cannot keep the symlink \(name)", errno: errno)
                    }
                    kept.files += 1
                    continue
                }
                let inode = "\(item.device):\(item.inode)"
                if let (firstDirectory, firstName) = copied[inode] {
                    guard linkat(firstDirectory.fd, firstName.name, directory.fd, leaf.name, 0) == 0 else {
                        throw WorldError(.failed, "cannot keep \(name) as a link", errno: errno)
                    }
                    kept.files += 1
                    continue
                }
                let components = item.components
                let host = item.host
                let source = try await observer.run { () throws(WorldError) -> Descriptor in
                    try self.reach(host: host, components: components, flags: O_RDONLY | O_NONBLOCK)
                }
                guard let info = source.stat(), info.st_mode & S_IFMT == S_IFREG, UInt64(info.st_ino) == item.inode else {
                    kept.problems.append("\(name): changed while the world was kept; left out")
                    continue
                }
                let fd = openat(directory.fd, leaf.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw WorldError(.failed, "cannot create \(name)", errno: errno) }
                let copy = Descriptor(owning: fd)
                let before = budget
                let whole = try FileCopy.copy(from: source.fd, to: copy.fd, size: Int64(info.st_size), budget: &budget, describing: name)
                kept.bytes += before - budget
                kept.files += 1
                copied[inode] = (directory, leaf)
                if !whole { kept.problems.append("\(name): cut where the world's size limit of \(sizeLimit) bytes of data ran out") }
                fchmod(copy.fd, item.mode & 0o755)
                var times = item.times
                futimens(copy.fd, &times)
            } catch {
                kept.problems.append("\(name): \(error)")
            }
        }
        return kept
    }

    /// Everything to keep, in walk order, with what the walk could not cover.
    func listForKeeping() -> (found: [Found], problems: [String]) {
        var found: [Found] = []
        var problems: [String] = []
        for address in addresses {
            guard let directory = try? reach(host: address, flags: O_RDONLY | O_DIRECTORY) else {
                problems.append("\(address): the host's directory could not be read; nothing of it is kept")
                continue
            }
            let cut = WorldWalk.entries(in: directory.fd) { visit in
                switch visit.kind {
                case .unreadableDirectory:
                    problems.append("\(address)/\(visit.spelled): a directory that could not be read; its files are not kept")
                case .file, .symlink:
                    let target = visit.kind == .symlink ? (Self.readLink(visit.parent, visit.name) ?? []) : nil
                    found.append(Found(host: address, components: visit.components, spelled: visit.spelled, symlinkTarget: target,
                                       device: UInt64(visit.info.st_dev), inode: UInt64(visit.info.st_ino), size: Int64(visit.info.st_size),
                                       mode: visit.info.st_mode, times: [visit.info.st_atim, visit.info.st_mtim]))
                }
            }
            problems += cut.problems.map { "\(address): \($0)" }
        }
        return (found, problems)
    }

    /// A file below the host's directory, by its components, beneath the root.
    func reach(host: String, components: [Component], flags: Int32) throws(WorldError) -> Descriptor {
        guard let hostName = Component(Array(host.utf8)) else { throw WorldError(.invalidPath, "unknown server '\(host)'") }
        let fd = Beneath.open(root.fd, [Component(Array("hosts".utf8))!, hostName] + components, flags: flags)
        guard fd >= 0 else { throw WorldError(.failed, "cannot open a file of the world", errno: errno) }
        return Descriptor(owning: fd)
    }

    /// The directory in the copy for the last of `components`, made as needed (0755), and that
    /// component.
    static func destinationDirectory(_ top: Descriptor, _ components: [Component]) throws(WorldError) -> (Descriptor, Component) {
        var directory = top
        for component in components.dropLast() {
            if mkdirat(directory.fd, component.name, 0o755) != 0, errno != EEXIST {
                throw WorldError(.failed, "cannot create a directory of the copy", errno: errno)
            }
            let fd = openat(directory.fd, component.name, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw WorldError(.failed, "cannot open a directory of the copy", errno: errno) }
            directory = Descriptor(owning: fd)
        }
        return (directory, components[components.count - 1])
    }
}

extension World {
    /// A world a stopped wardend left behind (its run never ended), reopened to be kept: its
    /// hosts are the directories its `hosts` directory holds.
    public static func left(at root: Descriptor, rights: AgentRights, sizeLimit: UInt64, escapes: EscapePaths = .standard) throws(WorldError) -> World {
        let fd = Beneath.open(root.fd, Component(Array("hosts".utf8))!, flags: O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let stream = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            throw WorldError(.failed, "cannot list the world's hosts", errno: errno)
        }
        defer { closedir(stream) }
        var addresses: [String] = []
        while let entry = readdir(stream) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard Component(bytes) != nil, let name = String(validating: bytes, as: UTF8.self) else { continue }
            addresses.append(name)
        }
        return World(root: root, labels: WorldLabels(addresses: addresses.sorted()), rights: rights, sizeLimit: sizeLimit, escapes: escapes)
    }
}
