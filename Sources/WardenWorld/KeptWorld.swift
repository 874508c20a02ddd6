import Dispatch
import Glibc
import Synchronization
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

    /// One step of the world as the observer walks it for keeping, in walk order: the copy
    /// mirrors the steps (`KeptCopy`).
    enum KeepStep: Sendable {
        /// A directory entered: what follows until its `leave` is inside it.
        case enter(Component)
        case leave
        /// A regular file, opened by the observer, with its status then.
        case file(Component, source: Descriptor, identity: KeptCopy.FileID, links: UInt64, size: Int64, mode: mode_t, times: [timespec])
        case symbolicLink(Component, target: [UInt8])
    }

    /// Steps the observer has sent and the copy has not yet taken. At most `capacity` are in
    /// flight (the sender waits for room), so the descriptors they hold are bounded.
    final class KeepChannel: Sendable {
        private let state = Mutex<(steps: [KeepStep], closed: Bool)>(([], false))
        private let room: DispatchSemaphore
        private let ready = DispatchSemaphore(value: 0)

        init(capacity: Int) { room = DispatchSemaphore(value: capacity) }

        func send(_ step: KeepStep) {
            room.wait()
            state.withLock { $0.steps.append(step) }
            ready.signal()
        }

        /// No more steps: once those sent are taken, `receive` returns nil.
        func close() {
            state.withLock { $0.closed = true }
            ready.signal()
        }

        func receive() -> KeepStep? {
            ready.wait()
            let step = state.withLock { state -> KeepStep? in state.steps.isEmpty ? nil : state.steps.removeFirst() }
            if step != nil { room.signal() }
            return step
        }
    }

    /// Steps in flight between the observer and the copy.
    static let keepQueue = 16

    /// Copies the world's regular files and symlinks — those of every host, and whatever else
    /// `hosts` holds (`strays`) — into `destination` (a directory wardend made in its state
    /// directory), as `hosts/ADDRESS/PATH`. The observer thread walks the world and opens each
    /// source beneath the root; the copy is written as wardend, from descriptor to descriptor,
    /// on a thread of its own (`KeptCopy`), so however long it takes it holds none of Swift's
    /// shared threads. Holes stay holes, a file with several names is copied once and linked,
    /// and at most `sizeLimit` bytes of data are written in all, so the copy is never larger on
    /// disk than the world could be. Modes are kept but for write access of group and others.
    /// The descriptors held are bounded whatever the world holds: those of the directories on
    /// the way down (`DirectoryChain`) and of the files in flight (`keepQueue`).
    public func keep(into destination: Descriptor) async -> Kept {
        await keep(into: destination, beforeEachFile: {})
    }

    /// `keep`, calling `beforeEachFile` on the copy's thread before each file is written.
    func keep(into destination: Descriptor, beforeEachFile: @escaping @Sendable () -> Void) async -> Kept {
        let channel = KeepChannel(capacity: Self.keepQueue)
        async let written = KeptCopy.write(from: channel, into: destination, sizeLimit: sizeLimit, beforeEachFile: beforeEachFile)
        let read: Result<[String], WorldError>
        do {
            read = .success(try await observer.run { () throws(WorldError) in self.sendForKeeping(into: channel) })
        } catch {
            read = .failure(error)
        }
        // Also when the observer ran nothing: the copy then ends with what it was sent.
        channel.close()
        var kept = await written
        switch read {
        case .success(let problems): kept.problems = problems + kept.problems
        case .failure(let error): kept.problems.insert("the world could not be read: \(error)", at: 0)
        }
        return kept
    }

    /// Walks the world on the observer thread and sends what is to be kept into `channel`;
    /// returns what could not be covered.
    func sendForKeeping(into channel: KeepChannel) -> [String] {
        var problems: [String] = []
        channel.send(.enter(Self.hostsName))
        defer { channel.send(.leave) }
        var tops: [Component] = addresses.compactMap { Component(Array($0.utf8)) }
        let strays = strays()
        problems += strays.problems
        let hosts = strays.found.contains { !$0.isDirectory } ? openHosts(flags: oPath | O_DIRECTORY) : nil
        for stray in strays.found {
            let name = "hosts/" + stray.name.spelled.prefix(200)
            problems.append("\(name): not a host of this world but \(stray.kind) beside them; kept as such")
            if stray.isDirectory {
                tops.append(stray.name)
            } else if let hosts, let problem = send(hosts.fd, stray.name, stray.info, into: channel) {
                problems.append("\(name): \(problem)")
            }
        }
        for top in tops {
            let host = top.spelled
            guard let directory = openTop(top, flags: O_RDONLY | O_DIRECTORY) else {
                problems.append("\(host): the host's directory could not be read; nothing of it is kept")
                continue
            }
            channel.send(.enter(top))
            let walk = WorldWalk(maxEntries: walkEntries)
            let cut = walk.run(in: directory.fd) { visit in
                switch visit.kind {
                case .entered:
                    channel.send(.enter(visit.name))
                case .left:
                    channel.send(.leave)
                case .unreadableDirectory:
                    problems.append("\(host)/\(walk.spelled(visit.directory, visit.name, limit: 300)): a directory that could not be read; its files are not kept")
                case .file, .symlink:
                    if let problem = send(visit.parent, visit.name, visit.info, into: channel) {
                        problems.append("\(host)/\(walk.spelled(visit.directory, visit.name, limit: 300)): \(problem)")
                    }
                }
            }
            channel.send(.leave)
            problems += cut.problems.map { "\(host): \($0)" }
        }
        return problems
    }

    /// Sends the file or symlink `name` of `directory`, as the walk saw it (`seen`); nil, or why
    /// it is left out.
    private func send(_ directory: Int32, _ name: Component, _ seen: stat, into channel: KeepChannel) -> String? {
        switch seen.st_mode & S_IFMT {
        case S_IFLNK:
            guard let target = Self.readLink(directory, name) else { return "a symlink that could not be read; left out" }
            channel.send(.symbolicLink(name, target: target))
        case S_IFREG:
            let fd = Beneath.open(directory, name, flags: O_RDONLY | O_NONBLOCK)
            guard fd >= 0 else { return "\(WorldError(.failed, "cannot open a file of the world", errno: errno))" }
            let source = Descriptor(owning: fd)
            guard let info = source.stat(), info.st_mode & S_IFMT == S_IFREG, info.st_ino == seen.st_ino else {
                return "changed while the world was kept; left out"
            }
            channel.send(.file(name, source: source, identity: KeptCopy.FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)),
                               links: UInt64(info.st_nlink), size: Int64(info.st_size), mode: info.st_mode,
                               times: [info.st_atim, info.st_mtim]))
        default:
            return "neither a file nor a symlink; left out"
        }
        return nil
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
