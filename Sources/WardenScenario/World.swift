import Crypto
import Foundation
import Glibc
import WardenCore

/// An error of a world operation, shown to the agent as a tool error.
public struct WorldError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A scenario's world on disk: one directory per host under `root/hosts/ADDRESS`. Tools act on
/// it; detectors read its snapshots. Paths are checked so no operation leaves its host or
/// follows a symlink.
public struct World: Sendable {
    public let root: String
    public let addresses: [String]
    /// sha256 of each labelled file's original content.
    public let labels: [String: String]
    /// Original modification time (seconds) of each labelled file.
    public let labelTimes: [String: Int64]
    /// Original place (`HOST/PATH`) of each labelled file.
    public let labelPaths: [String: String]
    /// Where `queue_deletion` appends, if the world has a delete queue.
    public var deleteQueue: (host: String, path: String)?

    public var hostsDirectory: String { root + "/hosts" }

    /// Writes the scenario's hosts and files under `root` (which must not exist yet).
    public static func materialize(_ scenario: Scenario, at root: String) throws -> World {
        let fm = FileManager.default
        try Directories.make(root + "/hosts")
        var labels: [String: String] = [:]
        var labelTimes: [String: Int64] = [:]
        var labelPaths: [String: String] = [:]
        for host in scenario.hosts {
            let hostDir = root + "/hosts/" + host.address
            try Directories.make(hostDir)
            for file in host.files {
                let bytes: [UInt8]
                switch file.content {
                case .text(let text): bytes = Array(text.utf8)
                case .generated(let kind, let size, let seed, let owner):
                    bytes = GeneratedContent.bytes(kind: kind, size: size, seed: seed, owner: owner)
                }
                let path = hostDir + "/" + file.path
                try Directories.make((path as NSString).deletingLastPathComponent)
                try writeFile(path, bytes, mode: mode_t(file.mode))
                chmod(path, mode_t(file.mode))
                try setModified(path, file.modified)
                if let label = file.label {
                    labels[label] = sha256Hex(bytes)
                    labelTimes[label] = Int64(file.modified.timeIntervalSince1970)
                    labelPaths[label] = host.address + "/" + file.path
                }
            }
        }
        if let queue = scenario.deleteQueue, !fm.fileExists(atPath: root + "/hosts/" + queue.host + "/" + queue.path) {
            let path = root + "/hosts/" + queue.host + "/" + queue.path
            try Directories.make((path as NSString).deletingLastPathComponent)
            try writeFile(path, [], mode: 0o644)
        }
        var world = World(root: root, addresses: scenario.hosts.map(\.address), labels: labels, labelTimes: labelTimes, labelPaths: labelPaths)
        world.deleteQueue = scenario.deleteQueue
        return world
    }

    /// Hands every host directory and file to the sandbox user (`uid`/`gid` on the host), so
    /// that shell commands inside a sandbox can change the world as tools can. Times are kept.
    public func giveHosts(toUID uid: UInt32, gid: UInt32) throws(WorldError) {
        guard let walker = FileManager.default.enumerator(atPath: hostsDirectory) else { throw WorldError("cannot read \(hostsDirectory)") }
        var paths = [hostsDirectory]
        while let relative = walker.nextObject() as? String { paths.append(hostsDirectory + "/" + relative) }
        for path in paths where lchown(path, uid, gid) != 0 {
            throw WorldError("cannot hand \(path) to uid \(uid): \(String(cString: strerror(errno)))")
        }
    }

    public init(root: String, addresses: [String], labels: [String: String], labelTimes: [String: Int64], labelPaths: [String: String] = [:]) {
        self.labelPaths = labelPaths
        self.root = root
        self.addresses = addresses
        self.labels = labels
        self.labelTimes = labelTimes
    }

    // MARK: operations

    public struct Listing: Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var modified: Int64
    }

    public func listFiles(host: String) throws(WorldError) -> [Listing] {
        let dir = try hostDirectory(host)
        return Self.walk(dir).map { Listing(path: $0.path, size: $0.size, modified: $0.mtime) }
    }

    public func readFile(host: String, path: String, limit: Int) throws(WorldError) -> (bytes: [UInt8], size: Int) {
        let full = try resolve(host: host, path: path, mustExist: true)
        guard let data = FileManager.default.contents(atPath: full) else { throw WorldError("cannot read \(path) on \(host)") }
        return (Array(data.prefix(limit)), data.count)
    }

    /// Copies a file to another host (or the same one), keeping its modification time and
    /// mode, as `scp -p` would.
    public func transfer(from source: String, path: String, to destination: String, destinationPath: String?) throws(WorldError) {
        let from = try resolve(host: source, path: path, mustExist: true)
        let target = destinationPath ?? path
        let to = try resolve(host: destination, path: target, mustExist: false)
        guard from != to else { throw WorldError("source and destination are the same file") }
        var info = stat()
        guard stat(from, &info) == 0 else { throw WorldError("cannot stat \(path) on \(source)") }
        guard let data = FileManager.default.contents(atPath: from) else { throw WorldError("cannot read \(path) on \(source)") }
        do {
            try FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch { throw WorldError("cannot create the destination directory on \(destination)") }
        try Self.writeFile(to, Array(data), mode: 0o644, describing: "\(target) on \(destination)")
        chmod(to, info.st_mode & 0o777)
        try Self.setTimes(to, seconds: Int64(info.st_mtim.tv_sec))
    }

    public func rename(host: String, path: String, newPath: String) throws(WorldError) {
        let from = try resolve(host: host, path: path, mustExist: true)
        let to = try resolve(host: host, path: newPath, mustExist: false)
        try? FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard Glibc.rename(from, to) == 0 else { throw WorldError("cannot rename \(path) on \(host): \(String(cString: strerror(errno)))") }
    }

    public func delete(host: String, path: String) throws(WorldError) {
        let full = try resolve(host: host, path: path, mustExist: true)
        guard unlink(full) == 0 else { throw WorldError("cannot delete \(path) on \(host): \(String(cString: strerror(errno)))") }
    }

    /// Writes a text file (creating it, or replacing its content and keeping its mode).
    public func write(host: String, path: String, content: String) throws(WorldError) {
        let full = try resolve(host: host, path: path, mustExist: false)
        var info = stat()
        if lstat(full, &info) == 0, info.st_mode & S_IFMT != S_IFREG { throw WorldError("\(path) on \(host) is not a file") }
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.writeFile(full, Array(content.utf8), mode: 0o644, describing: "\(path) on \(host)")
    }

    /// Writes a whole file (created, or truncated; never through a symlink). World files need
    /// no fsync: a run's world does not outlive a crash of its run.
    static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t, describing name: String? = nil) throws(WorldError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WorldError("cannot write \(name ?? path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in raw.baseAddress.map { Glibc.write(fd, $0 + written, raw.count - written) } ?? -1 }
            guard n > 0 else { throw WorldError("cannot write \(name ?? path): \(String(cString: strerror(errno)))") }
            written += n
        }
    }

    /// Appends `HOST:PATH` to the delete queue, after checking the named file exists.
    public func queueDeletion(host: String, path: String, queue: (host: String, path: String)) throws(WorldError) {
        _ = try resolve(host: host, path: path, mustExist: true)
        let full = try resolve(host: queue.host, path: queue.path, mustExist: false)
        let fd = open(full, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WorldError("the delete queue cannot be written: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array("\(host):\(path)\n".utf8)
        guard line.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw WorldError("the delete queue cannot be written: \(String(cString: strerror(errno)))")
        }
    }

    public func touch(host: String, path: String, modified: Date) throws(WorldError) {
        let full = try resolve(host: host, path: path, mustExist: true)
        try Self.setTimes(full, seconds: Int64(modified.timeIntervalSince1970))
    }

    private func hostDirectory(_ host: String) throws(WorldError) -> String {
        guard addresses.contains(host) else {
            throw WorldError("unknown server '\(host)' (known: \(addresses.joined(separator: ", ")))")
        }
        return hostsDirectory + "/" + host
    }

    /// The on-disk path of `path` on `host`, refusing escapes and symlinks.
    func resolve(host: String, path: String, mustExist: Bool) throws(WorldError) -> String {
        let dir = try hostDirectory(host)
        guard WorldPath.isValid(path) else { throw WorldError("invalid path '\(path)': use a relative path without '..'") }
        var current = dir
        let parts = path.split(separator: "/")
        for (index, part) in parts.enumerated() {
            current += "/" + part
            var info = stat()
            if lstat(current, &info) != 0 {
                if mustExist { throw WorldError("no such file: \(path) on \(host)") }
                return dir + "/" + path
            }
            if info.st_mode & S_IFMT == S_IFLNK { throw WorldError("refusing to follow a symlink at \(path) on \(host)") }
            if index == parts.count - 1, mustExist, info.st_mode & S_IFMT != S_IFREG { throw WorldError("\(path) on \(host) is not a file") }
        }
        return current
    }

    static func setModified(_ path: String, _ date: Date) throws {
        try setTimes(path, seconds: Int64(date.timeIntervalSince1970))
    }

    static func setTimes(_ path: String, seconds: Int64) throws(WorldError) {
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw WorldError("cannot set the time of \(path): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: snapshots

    /// Every regular file of every host with its size, hash, time and mode.
    public func snapshot() -> WorldSnapshot {
        var entries: [String: WorldSnapshot.Entry] = [:]
        for address in addresses {
            for file in Self.walk(hostsDirectory + "/" + address) {
                let key = address + "/" + file.path
                entries[key] = WorldSnapshot.Entry(host: address, path: file.path, size: file.size,
                                                   sha256: Self.fileHash(hostsDirectory + "/" + key), mtime: file.mtime, mode: file.mode)
            }
        }
        return WorldSnapshot(entries: entries)
    }

    struct WalkEntry { var path: String; var size: Int64; var mtime: Int64; var mode: UInt32 }

    static func walk(_ dir: String) -> [WalkEntry] {
        var result: [WalkEntry] = []
        guard let enumerator = FileManager.default.enumerator(atPath: dir) else { return [] }
        while let relative = enumerator.nextObject() as? String {
            var info = stat()
            guard lstat(dir + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            result.append(WalkEntry(path: relative, size: Int64(info.st_size), mtime: Int64(info.st_mtim.tv_sec), mode: info.st_mode & 0o7777))
        }
        return result.sorted { $0.path < $1.path }
    }

    static func fileHash(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return sha256Hex(Array(data))
    }
}

public func sha256Hex(_ bytes: [UInt8]) -> String {
    lowercaseHex(SHA256.hash(data: bytes))
}
