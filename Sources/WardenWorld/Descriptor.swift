import CWardenWorld
import Glibc

/// An open file descriptor, closed when its last reference goes. The world is reached only
/// through these: a descriptor names the inode it was opened on, whatever is renamed or swapped
/// at its path afterwards.
public final class Descriptor: Sendable {
    public let fd: Int32

    /// Takes ownership of `fd` (which must be valid).
    public init(owning fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Opens a directory wardend itself made (a run's world root, the place its final copy goes),
    /// refusing a symlink at the last component. Only for wardend's own state directory, which no
    /// sandbox can reach.
    public static func directory(at path: String) throws(WorldError) -> Descriptor {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw WorldError(.failed, "cannot open the directory \(path)", errno: errno) }
        return Descriptor(owning: fd)
    }

    func stat() -> Glibc.stat? {
        var info = Glibc.stat()
        return fstat(fd, &info) == 0 ? info : nil
    }
}

/// `O_PATH`, `SEEK_DATA` and `SEEK_HOLE`, which Swift's Glibc module leaves out.
let oPath = Int32(WARDEN_O_PATH)
let seekData = Int32(WARDEN_SEEK_DATA)
let seekHole = Int32(WARDEN_SEEK_HOLE)
