import Glibc

/// `mkdir -p` with one syscall when the parent exists (the common case): FileManager's
/// `createDirectory(withIntermediateDirectories:)` stats every component of the path first,
/// on every run's path.
public enum Directories {
    /// Creates `path` and any missing parents with `mode` (before the umask). Succeeds when it
    /// exists as a directory already; otherwise throws the errno of the failing mkdir.
    public static func make(_ path: String, mode: mode_t = 0o777) throws(DirectoryError) {
        if mkdir(path, mode) == 0 { return }
        let error = errno
        switch error {
        case EEXIST:
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw DirectoryError(path: path, errno: EEXIST) }
        case ENOENT:
            guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { throw DirectoryError(path: path, errno: error) }
            try make(String(path[..<slash]), mode: mode)
            if mkdir(path, mode) != 0 && errno != EEXIST { throw DirectoryError(path: path, errno: errno) }
        default:
            throw DirectoryError(path: path, errno: error)
        }
    }
}

/// A directory that could not be made; the cause is what the kernel answered.
public struct DirectoryError: Error, CustomStringConvertible, CodedFailure {
    public let path: String
    public let errno: Int32
    public var codeName: String { "core.directory" }
    public var message: String { "cannot create the directory \(path)" }
    public var underlying: (any Error & Sendable)? { SystemError(errno) }
    public var description: String { "\(plainDescription) [\(codeName)]" }
}
