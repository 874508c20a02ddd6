import CWardenWorld
import Glibc
import WardenScenario

extension World {
    /// Why a file was recorded by its size alone: its apparent size is over the world's size
    /// limit, so reading it whole could cost the daemon without bound.
    public static let overLimit = "over world_size"
    /// Why a file was recorded without its hash: the agent's rights do not let it be read.
    public static let unreadable = "unreadable"

    /// Every regular file of every host with its size, hash, time and mode, as the agent's
    /// rights see them. A file over `sizeLimit` (apparent size) or unreadable is recorded
    /// without its hash, saying why (`unhashed`).
    public func snapshot() throws(WorldError) -> WorldSnapshot {
        try rights.perform { () throws(WorldError) in
            var entries: [String: WorldSnapshot.Entry] = [:]
            for address in addresses {
                guard let directory = try? reach(host: address, path: nil, flags: O_RDONLY | O_DIRECTORY) else { continue }
                WorldWalk.files(in: directory.fd) { parent, name, relative, info in
                    var entry = WorldSnapshot.Entry(host: address, path: relative, size: Int64(info.st_size), sha256: "",
                                                    mtime: Int64(info.st_mtim.tv_sec), mode: info.st_mode & 0o7777)
                    if UInt64(max(info.st_size, 0)) > sizeLimit {
                        entry.unhashed = Self.overLimit
                    } else if let hash = Self.hash(parent, name, expecting: info) {
                        entry.sha256 = hash
                    } else {
                        entry.unhashed = Self.unreadable
                    }
                    entries[address + "/" + relative] = entry
                }
            }
            return WorldSnapshot(entries: entries)
        }
    }

    /// The file's SHA-256, if it opens as the same regular file the walk saw and reads whole.
    static func hash(_ parent: Int32, _ name: [CChar], expecting seen: stat) -> String? {
        let fd = Beneath.open(parent, component: name, flags: O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_ino == seen.st_ino else { return nil }
        return FileCopy.sha256(fd, size: Int64(info.st_size))
    }
}
