import Foundation
import Glibc

/// Inspect's operations for the command server inside a sandbox (fd 6, beside `ShellRequest`):
/// a command by argv with stdin, environment, working directory and time-out; a file read or
/// written with the sandbox's own rights.
///
/// SOCK_SEQPACKET messages have a size limit (the socket's send buffer), so every logical message
/// here travels framed as chunks of at most `SandboxOps.chunkBytes`, each led by one byte: 1 when
/// more chunks follow, 0 on the last. A request is its JSON header, then (when `dataBytes` is
/// set) the data as a second framed message; a reply is its JSON header, then exec's stdout and
/// stderr or the file read, each a framed message. A framed message never begins with `{`, which
/// is how the server tells it from a `ShellRequest`.
public enum SandboxOps {
    public static let chunkBytes = 60 << 10
    /// The largest header either side accepts (argv of a few MiB fits).
    public static let maxHeaderBytes = 16 << 20
    /// The largest data a request carries (stdin, a file's contents).
    public static let maxDataBytes = 1 << 30

    public enum FrameError: Error { case closed, tooLarge, malformed }

    /// Sends `bytes` as one framed message; false if the peer is gone.
    public static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        var chunk = [UInt8](repeating: 0, count: chunkBytes + 1)
        repeat {
            let count = min(chunkBytes, bytes.count - offset)
            chunk[0] = offset + count < bytes.count ? 1 : 0
            bytes.withUnsafeBufferPointer { source in
                chunk.withUnsafeMutableBufferPointer { target in
                    if count > 0 { (target.baseAddress! + 1).update(from: source.baseAddress! + offset, count: count) }
                }
            }
            var sent = 0
            repeat {
                sent = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, count + 1, Int32(MSG_NOSIGNAL)) }
            } while sent < 0 && errno == EINTR
            guard sent == count + 1 else { return false }
            offset += count
        } while offset < bytes.count
        return true
    }

    /// Receives one framed message of at most `limit` bytes.
    public static func receive(_ fd: Int32, limit: Int) throws(FrameError) -> [UInt8] {
        var message: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkBytes + 1)
        while true {
            var n = 0
            repeat {
                n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            } while n < 0 && errno == EINTR
            guard n > 0 else { throw .closed }
            guard chunk[0] <= 1 else { throw .malformed }
            guard message.count + n - 1 <= limit else { throw .tooLarge }
            message.append(contentsOf: chunk[1..<n])
            if chunk[0] == 0 { return message }
        }
    }

    /// Whether a message that begins with `first` is framed (an op) rather than a `ShellRequest`.
    public static func isFramed(first: UInt8) -> Bool { first <= 1 }
}

/// One operation's header.
public struct SandboxOpRequest: Codable, Sendable {
    public enum Op: String, Codable, Sendable {
        case exec
        case readFile = "read"
        case writeFile = "write"
    }
    public var op: Op
    /// exec: the program and its arguments (a bare name is looked up on the environment's PATH).
    public var argv: [String]?
    /// exec: variables added to (or replacing) the sandbox's environment.
    public var env: [String: String]?
    /// exec: the absolute working directory.
    public var cwd: String?
    public var timeoutSeconds: Double?
    /// exec: each stream keeps its last this many bytes; the rest is counted.
    public var maxOutputBytes: Int?
    /// read_file, write_file: the absolute path.
    public var path: String?
    /// read_file: a larger file is refused as `too_large`.
    public var maxBytes: Int?
    /// The size of the data message that follows (exec's stdin; a file's contents); nil: none
    /// (exec's stdin is then /dev/null).
    public var dataBytes: Int?

    public init(op: Op) { self.op = op }
}

/// One operation's outcome. Data messages follow: exec's stdout and stderr, or the file read.
public struct SandboxOpReply: Codable, Sendable {
    /// `not_found`, `is_directory`, `permission_denied`, `too_large`, `failed`.
    public var error: String?
    public var message: String?
    public var exitCode: Int32?
    public var timedOut = false
    /// exec: bytes each stream produced in all (what follows is at most `maxOutputBytes`).
    public var stdoutTotal = 0
    public var stderrTotal = 0
    /// read_file: the file's size (also when `too_large`).
    public var size: Int?

    public init() {}
    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }

    /// The failure class of an errno, as Inspect's sandbox contract names them.
    public static func errorName(_ code: Int32) -> String {
        switch code {
        case ENOENT, ENOTDIR: "not_found"
        case EISDIR: "is_directory"
        case EACCES, EPERM, EROFS: "permission_denied"
        default: "failed"
        }
    }
}
