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
    /// its target and where it leads; every directory that could not be read; whatever lies in
    /// `hosts` besides the hosts (`strays`); what the walk could not cover. On the observer
    /// thread: files the agent made unreadable to itself are read where the process may
    /// (CAP_DAC_READ_SEARCH), else recorded as unreadable. A file over `sizeLimit`, or past the
    /// hashing budget, is recorded without its hash, saying why; hard links are hashed once.
    ///
    /// The world is walked whole (`WorldWalk`) and its entries are spelled into keys afterwards,
    /// shortest key first, within `spellingBudget`: however many long, deep names an agent
    /// makes, they cannot keep a short one from being recorded, and any entry left out is
    /// counted in `cut`.
    public func snapshot() async throws(WorldError) -> WorldSnapshot {
        try await observer.run { () throws(WorldError) in self.takeSnapshot(of: nil) }
    }

    /// The same for some files only (missing ones are absent): what the world's shutdown
    /// condition needs, without walking the world.
    public func snapshot(of places: [(host: String, path: String)]) async throws(WorldError) -> WorldSnapshot {
        try await observer.run { () throws(WorldError) in self.takeSnapshot(of: places) }
    }

    /// What the walk found of one entry, before its key is spelled.
    private struct Found {
        enum What {
            case file(WorldSnapshot.Entry)
            case symlink
            case unreadableDirectory
        }

        /// Which walk (`Walked`) found it, in which of its directories.
        var walked: Int
        var directory: Int32
        var name: Component
        /// What recording it costs: the length of its key, and of its target for a symlink.
        var cost: Int
        var what: What
    }

    /// One walk of a directory of `hosts`: a host's, or a stray one's.
    private struct Walked {
        var host: String
        var top: Component
        var walk: WorldWalk
    }

    func takeSnapshot(of places: [(host: String, path: String)]?) -> WorldSnapshot {
        var snapshot = WorldSnapshot(entries: [:])
        var budget = hashBudget
        var hashed: [String: String] = [:]  // "dev:ino" → hash
        func entry(_ host: String, _ spelled: String, _ parent: Int32, _ name: Component, _ info: stat) -> WorldSnapshot.Entry {
            var entry = WorldSnapshot.Entry(host: host, path: spelled, size: Int64(info.st_size), sha256: "",
                                            mtime: Int64(info.st_mtim.tv_sec), mode: info.st_mode & 0o7777)
            let inode = "\(info.st_dev):\(info.st_ino)"
            if let known = hashed[inode] {
                entry.sha256 = known
            } else if let known = hashes.hash(of: inode, info) {
                entry.sha256 = known
                hashed[inode] = known
            } else if UInt64(max(info.st_size, 0)) > sizeLimit {
                entry.unhashed = Self.overLimit
            } else if UInt64(max(info.st_size, 0)) > budget {
                entry.unhashed = Self.overBudget
            } else if let hash = Self.hash(parent, name, expecting: info) {
                budget -= UInt64(max(info.st_size, 0))
                entry.sha256 = hash
                hashed[inode] = hash
                hashes.store(hash, of: inode, info)
            } else {
                entry.unhashed = Self.unreadable
            }
            return entry
        }
        if let places {
            for place in places {
                guard let parts = try? components(host: place.host, path: place.path), parts.count > 2 else { continue }
                let parentFD = Beneath.open(root.fd, Array(parts.dropLast()), flags: oPath | O_DIRECTORY)
                guard parentFD >= 0 else { continue }
                let parent = Descriptor(owning: parentFD)
                var info = stat()
                guard fstatat(parent.fd, parts[parts.count - 1].name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                let spelled = WorldKey.spell(Array(place.path.utf8))
                snapshot.entries[place.host + "/" + spelled] = entry(place.host, spelled, parent.fd, parts[parts.count - 1], info)
            }
            return snapshot
        }
        // The hosts, then whatever else `hosts` holds.
        var tops: [(host: String, top: Component)] = []
        for address in addresses {
            guard let top = Component(Array(address.utf8)) else { continue }
            tops.append((address, top))
        }
        let strays = strays()
        snapshot.cut += strays.problems
        let hosts = strays.found.contains { !$0.isDirectory } ? openHosts(flags: oPath | O_DIRECTORY) : nil
        for stray in strays.found {
            let name = stray.name.spelled
            if stray.isDirectory {
                snapshot.cut.append("hosts/\(name.prefix(200)): not a host of this world but a directory beside them; its files are "
                                    + "recorded as those of a host '\(name.prefix(200))'")
                tops.append((name, stray.name))
                continue
            }
            // Said, with its size and hash for a file: it has no host to be recorded under.
            var line = "hosts/\(name.prefix(200)): not a host of this world but \(stray.kind) beside them"
            if stray.info.st_mode & S_IFMT == S_IFREG, let hosts {
                let found = entry(name, "", hosts.fd, stray.name, stray.info)
                line += " (\(found.size) bytes" + (found.sha256.isEmpty ? ", \(found.unhashed ?? "")" : ", sha256 \(found.sha256)") + ")"
            }
            snapshot.cut.append(line)
        }
        var walked: [Walked] = []
        var found: [Found] = []
        for (host, top) in tops {
            guard let directory = openTop(top, flags: O_RDONLY | O_DIRECTORY) else {
                snapshot.unreadable.append(host)
                continue
            }
            let walk = WorldWalk(maxEntries: walkEntries)
            let index = walked.count
            let keyPrefix = host.utf8.count + 1
            let cut = walk.run(in: directory.fd) { visit in
                let cost = keyPrefix + visit.spelledCount
                switch visit.kind {
                case .file:
                    // Hashed now, through the descriptor the walk holds; its key is spelled later.
                    found.append(Found(walked: index, directory: visit.directory, name: visit.name, cost: cost,
                                       what: .file(entry(host, "", visit.parent, visit.name, visit.info))))
                case .symlink:
                    let target = 4 * min(Int(visit.info.st_size), Beneath.pathMax)
                    found.append(Found(walked: index, directory: visit.directory, name: visit.name, cost: cost + target, what: .symlink))
                case .unreadableDirectory:
                    found.append(Found(walked: index, directory: visit.directory, name: visit.name, cost: cost, what: .unreadableDirectory))
                case .entered, .left:
                    break
                }
            }
            walked.append(Walked(host: host, top: top, walk: walk))
            snapshot.cut += cut.problems.map { host + ": " + $0 }
        }
        let (kept, left) = WorldWalk.cheapestFirst(found.map(\.cost), budget: spellingBudget)
        for index in kept { record(found[index], of: walked[found[index].walked], in: &snapshot) }
        if let first = left.first {
            let example = found[first]
            let key = walked[example.walked].host + "/" + walked[example.walked].walk.spelled(example.directory, example.name, limit: 200)
            snapshot.cut.append("\(left.count) entries not recorded: a snapshot spells at most \(spellingBudget) bytes of keys, the "
                                + "shortest first, and theirs are the longest (\(example.cost) bytes or more, such as \(key))")
        }
        return snapshot
    }

    /// Adds what the walk found of one entry to `snapshot`, under its key.
    private func record(_ found: Found, of walked: Walked, in snapshot: inout WorldSnapshot) {
        let spelled = walked.walk.spelled(found.directory, found.name)
        let key = walked.host + "/" + spelled
        switch found.what {
        case .file(var entry):
            entry.path = spelled
            snapshot.entries[key] = entry
        case .symlink:
            // Read now, beneath the root, from the directory the walk found it in.
            let components = walked.walk.components(found.directory)
            let fd = Beneath.open(root.fd, [Self.hostsName, walked.top] + components, flags: oPath | O_DIRECTORY)
            let directory = fd >= 0 ? Descriptor(owning: fd) : nil
            let target = directory.flatMap { Self.readLink($0.fd, found.name) } ?? []
            let judgement = judgeSymlink(at: components + [found.name], host: walked.top, target: target)
            snapshot.symlinks[key] = .init(host: walked.host, path: spelled, target: WorldKey.spell(target),
                                           leavesWorld: judgement.leavesWorld, reason: judgement.reason)
        case .unreadableDirectory:
            snapshot.unreadable.append(key)
        }
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
