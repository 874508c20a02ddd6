#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Blocking, newline-framed I/O on a file descriptor: the transport of the broker protocol
/// (fd 3 inside a sandbox) and of the control socket as seen by clients. A line longer than
/// `maxLineLength` is an error, so a hostile peer cannot make a reader buffer without bound.
public enum LineChannelErrorCode: String, Sendable {
    /// A system call on the channel's descriptor failed.
    case io = "wire.io"
    /// The peer sent a line longer than the channel takes.
    case lineTooLong = "wire.line_too_long"
}

public final class LineChannel {
    public let fd: Int32
    public let maxLineLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false

    public typealias Failure = CodedError<LineChannelErrorCode>

    /// `OPERATION failed: the kernel's words`.
    static func failed(_ operation: String, _ error: Int32) -> String { "\(operation) failed: \(String(cString: strerror(error)))" }

    public init(fd: Int32, maxLineLength: Int = 16 << 20) {
        self.fd = fd
        self.maxLineLength = maxLineLength
    }

    /// Connects to a Unix stream socket at `path`.
    public static func connect(unixPath path: String) throws(Failure) -> LineChannel {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(.io, Self.failed("socket", errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw Failure(.io, Self.failed("connect (path too long)", ENAMETOOLONG))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let err = errno
            Glibc.close(fd)
            throw Failure(.io, Self.failed("connect to \(path)", err))
        }
        return LineChannel(fd: fd)
    }

    /// Reads one line without its newline; nil at end of stream. A final unterminated line
    /// is returned as a line.
    public func readLine() throws(Failure) -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if start > 65536 { buffer.removeFirst(start); start = 0 }
                return line
            }
            if buffer.count - start > maxLineLength { throw Failure(.lineTooLong, "a line exceeded \(maxLineLength) bytes") }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                buffer.removeAll()
                start = 0
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(.io, Self.failed("read", errno))
            }
            if n == 0 { eof = true; continue }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Writes `line` followed by a newline, retrying short writes.
    public func writeLine(_ line: [UInt8]) throws(Failure) {
        var data = line
        data.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(.io, Self.failed("write", errno))
            }
            offset += n
        }
    }

    public func writeLine(_ value: JSONValue) throws(Failure) { try writeLine(value.canonicalBytes) }

    public func close() { _ = Glibc.close(fd) }
}
