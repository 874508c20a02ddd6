import CWardenWorld
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

    /// Copies the world's regular files and symlinks into `destination` (a directory wardend
    /// made in its state directory), as `hosts/ADDRESS/PATH`, keeping modes and times. Each
    /// source is opened beneath the root with the agent's rights; the copy is written as wardend,
    /// from descriptor to descriptor. Holes stay holes and at most `sizeLimit` bytes of data are
    /// written in all, so the copy is never larger on disk than the world could be.
    public func keep(into destination: Descriptor) -> Kept {
        var kept = Kept()
        var found: [(host: String, entry: WorldWalk.Visit, target: [CChar]?)] = []
        do {
            try rights.perform { () throws(WorldError) in
                for address in addresses {
                    guard let directory = try? reach(host: address, path: nil, flags: O_RDONLY | O_DIRECTORY) else { continue }
                    let complete = WorldWalk.entries(in: directory.fd) { entry in
                        var target: [CChar]?
                        if entry.info.st_mode & S_IFMT == S_IFLNK {
                            var buffer = [CChar](repeating: 0, count: 4097)
                            let n = readlinkat(entry.parent, entry.name, &buffer, 4096)
                            guard n >= 0 else { return }
                            target = Array(buffer[0..<n]) + [0]
                        }
                        found.append((address, entry, target))
                    }
                    if !complete { kept.problems.append("\(address): the tree is deeper or larger than a walk follows; the rest is not kept") }
                }
            }
        } catch {
            kept.problems.append("the world could not be read with the agent's rights: \(error)")
            return kept
        }
        var budget = sizeLimit
        for (host, entry, target) in found {
            let name = "\(host)/\(entry.relative)"
            do {
                let (directory, leaf) = try Self.destinationDirectory(destination, ["hosts".cString, host.cString] + entry.components)
                if let target {
                    guard symlinkat(target, directory.fd, leaf) == 0 else { throw WorldError(.failed, "cannot keep the symlink \(name)", errno: errno) }
                    kept.files += 1
                    continue
                }
                let source = try rights.perform { () throws(WorldError) -> Descriptor in
                    try reach(components: [host.cString] + entry.components, flags: O_RDONLY | O_NONBLOCK)
                }
                guard let info = source.stat(), info.st_mode & S_IFMT == S_IFREG, info.st_ino == entry.info.st_ino else {
                    kept.problems.append("\(name): changed while the world was kept; left out")
                    continue
                }
                let fd = openat(directory.fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw WorldError(.failed, "cannot create \(name)", errno: errno) }
                let copy = Descriptor(owning: fd)
                let before = budget
                let whole = try FileCopy.copy(from: source.fd, to: copy.fd, size: Int64(info.st_size), budget: &budget, describing: name)
                kept.bytes += before - budget
                kept.files += 1
                if !whole { kept.problems.append("\(name): cut where the world's size limit of \(sizeLimit) bytes of data ran out") }
                fchmod(copy.fd, info.st_mode & 0o777)
                var times = [info.st_atim, info.st_mtim]
                futimens(copy.fd, &times)
            } catch {
                kept.problems.append("\(name): \(error)")
            }
        }
        return kept
    }

    /// The host, then each directory of `components` but the last, beneath the root, with the
    /// agent's rights already taken by the caller.
    func reach(components: [[CChar]], flags: Int32) throws(WorldError) -> Descriptor {
        var directory = try reach(host: String(decoding: components[0].dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self), path: nil,
                                 flags: oPath | O_DIRECTORY)
        for component in components.dropFirst().dropLast() {
            let fd = Beneath.open(directory.fd, component: component, flags: oPath | O_DIRECTORY)
            guard fd >= 0 else { throw WorldError(.failed, "cannot reach a directory", errno: errno) }
            directory = Descriptor(owning: fd)
        }
        guard let last = components.last, components.count > 1 else { return directory }
        let fd = Beneath.open(directory.fd, component: last, flags: flags)
        guard fd >= 0 else { throw WorldError(.failed, "cannot open a file", errno: errno) }
        return Descriptor(owning: fd)
    }

    /// The directory in the copy for the last of `components`, made as needed (0755), and that
    /// component's name.
    static func destinationDirectory(_ top: Descriptor, _ components: [[CChar]]) throws(WorldError) -> (Descriptor, [CChar]) {
        var directory = top
        for component in components.dropLast() {
            if mkdirat(directory.fd, component, 0o755) != 0, errno != EEXIST { throw WorldError(.failed, "cannot create a directory of the copy", errno: errno) }
            let fd = openat(directory.fd, component, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw WorldError(.failed, "cannot open a directory of the copy", errno: errno) }
            directory = Descriptor(owning: fd)
        }
        return (directory, components.last ?? [0])
    }
}

extension String {
    var cString: [CChar] { Array(utf8CString) }
}

extension World {
    /// A world a stopped wardend left behind (its run never ended), reopened to be kept: its
    /// hosts are the directories its `hosts` directory holds.
    public static func left(at root: Descriptor, rights: AgentRights, sizeLimit: UInt64) throws(WorldError) -> World {
        let fd = Beneath.open(root.fd, "hosts", flags: O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let stream = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            throw WorldError(.failed, "cannot list the world's hosts", errno: errno)
        }
        defer { closedir(stream) }
        var addresses: [String] = []
        while let entry = readdir(stream) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let name = String(validating: bytes, as: UTF8.self), WorldPath.problem(name) == nil, !name.contains("/") else { continue }
            addresses.append(name)
        }
        return World(root: root, labels: WorldLabels(addresses: addresses.sorted()), rights: rights, sizeLimit: sizeLimit)
    }
}
