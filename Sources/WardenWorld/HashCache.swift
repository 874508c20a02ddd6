import Glibc
import Synchronization

/// The hashes of files as snapshots last found them, by inode: a file whose size, modification
/// time and change time (to the nanosecond) are those it was hashed at is not read again. Every
/// write, truncation, rename onto it or attribute change moves its change time, which no
/// process can set back, so a reused hash is the file's hash — once the change time is older
/// than the clock's tick: a file changed in the last `settled` is never taken from the cache,
/// since a second write in the same tick could leave its times as they were. Snapshots are
/// taken after every tool call and at supervised syscalls; with this only what changed is read.
final class HashCache: Sendable {
    struct Stamp: Equatable {
        var size: Int64
        var mtime: timespec
        var ctime: timespec
        init(_ info: stat) {
            size = Int64(info.st_size)
            mtime = info.st_mtim
            ctime = info.st_ctim
        }
        static func == (a: Stamp, b: Stamp) -> Bool {
            a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
                && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
        }
    }

    private let entries = Mutex<[String: (stamp: Stamp, hash: String)]>([:])
    /// Inodes remembered at most; past it the memory starts afresh (files are then read again).
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func hash(of inode: String, _ info: stat) -> String? {
        entries.withLock { entries in
            guard let known = entries[inode], known.stamp == Stamp(info) else { return nil }
            return known.hash
        }
    }

    /// How old a change must be for its file's hash to be remembered.
    static let settled: Int = 100_000_000  // nanoseconds

    func store(_ hash: String, of inode: String, _ info: stat) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let age = (now.tv_sec - info.st_ctim.tv_sec) * 1_000_000_000 + (now.tv_nsec - info.st_ctim.tv_nsec)
        guard age > Self.settled else { return }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[inode] = (Stamp(info), hash)
        }
    }
}
