import Glibc
import WardenScenario

extension World {
    /// Why a file was recorded by its size alone: its apparent size is over the world's size
    /// limit, so reading it whole could cost the daemon without bound.
    public static let overLimit = "over world_size"
    /// Why a file was recorded without its hash: the bytes hashed for this snapshot reached
    /// `hashBudget` (4 × world_size) before it.
    public static let overBudget = "over the snapshot's hashing budget"
    /// Why a file was recorded without its hash: it could not be read.
    public static let unreadable = "unreadable"

    /// Bytes hashed at most per snapshot (holes count, though they are not read).
    var hashBudget: UInt64 { sizeLimit.multipliedReportingOverflow(by: 4).overflow ? .max : sizeLimit * 4 }

    /// Every regular file of every host with its size, hash, time and mode; every symlink with
    /// its target and where it leads; every directory that could not be read; what the walk's
    /// bounds cut. On the observer thread: files the agent made unreadable to itself are read
    /// where the process may (CAP_DAC_READ_SEARCH), else recorded as unreadable. A file over
    /// `sizeLimit`, or past the hashing budget, is recorded without its hash, saying why; hard
    /// links are hashed once.
    public func snapshot() async throws(WorldError) -> WorldSnapshot {
        try await observer.run { () throws(WorldError) in self.takeSnapshot(of: nil) }
    }

    /// The same for some files only (missing ones are absent): what the world's shutdown
    /// condition needs, without walking the world.
    public func snapshot(of places: [(host: String, path: String)]) async throws(WorldError) -> WorldSnapshot {
        try await observer.run { () throws(WorldError) in self.takeSnapshot(of: places) }
    }

    func takeSnapshot(of places: [(host: String, path: String)]?) -> WorldSnapshot {
        var snapshot = WorldSnapshot(entries: [:])
        var budget = hashBudget
        var hashed: [String: String] = [:]  // "dev:ino" → hash
        func record(_ host: String, _ spelled: String, _ parent: Int32, _ name: Component, _ info: stat) {
            var entry = WorldSnapshot.Entry(host: host, path: spelled, size: Int64(info.st_size), sha256: "",
                                            mtime: Int64(info.st_mtim.tv_sec), mode: info.st_mode & 0o7777)
            let inode = "\(info.st_dev):\(info.st_ino)"
            if let known = hashed[inode] {
                entry.sha256 = known
            } else if UInt64(max(info.st_size, 0)) > sizeLimit {
                entry.unhashed = Self.overLimit
            } else if UInt64(max(info.st_size, 0)) > budget {
                entry.unhashed = Self.overBudget
            } else if let hash = Self.hash(parent, name, expecting: info) {
                budget -= UInt64(max(info.st_size, 0))
                entry.sha256 = hash
                hashed[inode] = hash
            } else {
                entry.unhashed = Self.unreadable
            }
            snapshot.entries[host + "/" + spelled] = entry
        }
        if let places {
            for place in places {
                guard let parts = try? components(host: place.host, path: place.path), parts.count > 2 else { continue }
                let parentFD = Beneath.open(root.fd, Array(parts.dropLast()), flags: oPath | O_DIRECTORY)
                guard parentFD >= 0 else { continue }
                let parent = Descriptor(owning: parentFD)
                var info = stat()
                guard fstatat(parent.fd, parts[parts.count - 1].name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                record(place.host, WorldKey.spell(Array(place.path.utf8)), parent.fd, parts[parts.count - 1], info)
            }
            return snapshot
        }
        for address in addresses {
            guard let directory = try? reach(host: address, flags: O_RDONLY | O_DIRECTORY) else {
                snapshot.unreadable.append(address)
                continue
            }
            let cut = WorldWalk.entries(in: directory.fd) { visit in
                let key = address + "/" + visit.spelled
                switch visit.kind {
                case .file:
                    record(address, visit.spelled, visit.parent, visit.name, visit.info)
                case .symlink:
                    let target = Self.readLink(visit.parent, visit.name) ?? []
                    let host = Component(Array(address.utf8))!
                    let judgement = judgeSymlink(at: visit.components, host: host, target: target)
                    snapshot.symlinks[key] = .init(host: address, path: visit.spelled, target: WorldKey.spell(target),
                                                   leavesWorld: judgement.leavesWorld, reason: judgement.reason)
                case .unreadableDirectory:
                    snapshot.unreadable.append(key)
                }
            }
            snapshot.cut += cut.problems.map { address + ": " + $0 }
        }
        return snapshot
    }

    /// The file's SHA-256, if it opens as the same regular file the walk saw and reads whole.
    static func hash(_ parent: Int32, _ name: Component, expecting seen: stat) -> String? {
        let fd = Beneath.open(parent, name, flags: O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_ino == seen.st_ino, info.st_size == seen.st_size else { return nil }
        return FileCopy.sha256(fd, size: Int64(info.st_size))
    }

    /// Where a symlink at `path` (components below `host`) with `target` leads, judged as the
    /// supervisor judges one the shell makes (`EscapePaths`), from where the agent sees it;
    /// `followed` when a tool was asked to go through it.
    func judgeSymlink(at path: [Component], host: Component, target: [UInt8], followed: Bool = false) -> EscapePaths.Judgement {
        let inside = escapes.hostsInside + "/" + String(decoding: Component.joined([host] + path).dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return escapes.symlink(target: String(decoding: target, as: UTF8.self), at: inside, followed: followed)
            ?? EscapePaths.Judgement(leavesWorld: false, reason: "not in the world")
    }
}
