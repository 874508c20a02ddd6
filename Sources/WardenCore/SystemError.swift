import Glibc

/// What the kernel answered a system call: the cause of an error that did not happen because
/// of it. Its description is the kernel's words and the errno's name, `Permission denied (EACCES)`.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var errno: Int32
    public init(_ errno: Int32) { self.errno = errno }
    public var description: String { "\(String(cString: strerror(errno))) (\(ErrnoName.of(errno)))" }
}
