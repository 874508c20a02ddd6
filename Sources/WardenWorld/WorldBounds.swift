extension World {
    /// The names a world of `sizeLimit` bytes can hold on its tmpfs: wardend mounts it with one
    /// inode per 4 KiB, at least 1024 (`WorldFilesystem`), and there every name — file,
    /// directory, symlink, each further hard link — takes an inode, the root one more.
    static func names(fitting sizeLimit: UInt64) -> Int { Int(clamping: max(1024, sizeLimit / 4096)) }

    /// The entries one walk lists at most: twice the names a full world can hold, so a world on
    /// its tmpfs is always walked whole. The bound is for a world that is not on one (wardend
    /// could not mount it), whose walk would otherwise cost the daemon without end.
    var walkEntries: Int { 2 * Self.names(fitting: sizeLimit) }

    /// What a snapshot records at most, in bytes of keys (`WorldKey`), and a listing shows, in
    /// bytes of paths: `keyBytesPerName` for every name a full world can hold. Entries are taken
    /// shortest first (`WorldWalk.cheapestFirst`), so every entry whose key is at most that long
    /// is recorded whatever else the world holds, and only the longest keys can be left out —
    /// each time said. A budget is needed because a key spells the whole path: a full world of
    /// deep trees of long names could otherwise spell gigabytes.
    var spellingBudget: Int { Self.names(fitting: sizeLimit) * Self.keyBytesPerName }
    static let keyBytesPerName = 1024
}
