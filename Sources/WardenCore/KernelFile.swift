import Glibc

/// Reads files of /proc, /sys and cgroupfs whole, with read(2) until end of file.
///
/// Their `st_size` says nothing (0 or 4096), and Foundation's whole-file readers
/// (`String(contentsOfFile:)`, `FileManager.contents(atPath:)`) leak a buffer on each such file
/// that turns out empty, such as the `cgroup.procs` read at every sandbox's end.
public enum KernelFile {
    /// The file's bytes, or nil if it cannot be opened or read. Stops at `limit` bytes.
    public static func bytes(_ path: String, limit: Int = 1 << 24) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - result.count)) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// The file as text (invalid UTF-8 repaired), or nil if it cannot be read.
    public static func text(_ path: String, limit: Int = 1 << 24) -> String? {
        bytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension KernelFile {
    /// Where a symlink the kernel keeps (`/proc/PID/cwd`, `/proc/PID/fd/N`) points; nil if it cannot be read.
    public static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
