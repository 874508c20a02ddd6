import Crypto
import CWardenWorld
import Glibc
import WardenCore

/// Reads, writes, copies and hashes between descriptors through one fixed-size buffer, so no
/// file an agent makes — however large its apparent size — makes the daemon hold more than
/// `chunk` bytes of it at once.
enum FileCopy {
    static let chunk = 1 << 16

    /// The first `count` bytes of `fd` (fewer if the file is shorter).
    static func read(_ fd: Int32, upTo count: Int, describing name: String) throws(WorldError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw WorldError(.failed, "cannot read \(name)", errno: errno) }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// Writes all of `bytes` at `start` (or, with `append`, at the end: pwrite ignores the offset
    /// of a file opened O_APPEND).
    static func write(_ fd: Int32, _ bytes: [UInt8], at start: off_t = 0, append: Bool = false, describing name: String) throws(WorldError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                append ? Glibc.write(fd, raw.baseAddress! + done, raw.count - done) : pwrite(fd, raw.baseAddress! + done, raw.count - done, start + off_t(done))
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw WorldError(.failed, "cannot write \(name)", errno: errno) }
            done += n
        }
    }

    /// Copies the data of `source` (its first `size` bytes) to `destination`, which ends `size`
    /// bytes long. Only data is read: holes (seekData/seekHole) stay holes. At most `budget`
    /// bytes of data are copied; the budget is reduced by what was. Returns false when the budget
    /// ran out before the data did (the destination then ends after the last byte copied).
    @discardableResult
    static func copy(from source: Int32, to destination: Int32, size: Int64, budget: inout UInt64, describing name: String) throws(WorldError) -> Bool {
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset: off_t = 0
        var complete = true
        copying: while offset < size {
            var dataStart = lseek(source, offset, seekData)
            if dataStart < 0 {
                if errno == ENXIO { break }  // only a hole is left
                dataStart = offset  // no seekData here: everything is data
            }
            var dataEnd = lseek(source, dataStart, seekHole)
            if dataEnd < 0 { dataEnd = off_t(size) }
            dataEnd = min(dataEnd, off_t(size))
            var position = dataStart
            while position < dataEnd {
                guard budget > 0 else {
                    complete = false
                    offset = position
                    break copying
                }
                let left: off_t = dataEnd - position
                let allowed: off_t = budget > UInt64(Int.max) ? off_t.max : off_t(budget)
                let want = Int(Swift.min(off_t(chunk), left, allowed))
                let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress!, want, position) }
                if n < 0, errno == EINTR { continue }
                guard n >= 0 else { throw WorldError(.failed, "cannot read the source of \(name)", errno: errno) }
                if n == 0 { break copying }
                try write(destination, Array(buffer[0..<n]), at: position, describing: name)
                position += off_t(n)
                budget -= UInt64(n)
            }
            offset = dataEnd
        }
        let length = complete ? off_t(size) : offset
        guard ftruncate(destination, length) == 0 else { throw WorldError(.failed, "cannot size \(name)", errno: errno) }
        return complete
    }

    /// SHA-256 (hex) of the first `size` bytes of `fd`, streamed: data is read, holes are hashed
    /// as the zeros they read as without being read. Nil when the file ends early (it changed
    /// while read) or cannot be read.
    static func sha256(_ fd: Int32, size: Int64) -> String? {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: chunk)
        let zeros = [UInt8](repeating: 0, count: chunk)
        var position: off_t = 0
        while position < size {
            var dataStart = lseek(fd, position, seekData)
            if dataStart < 0 { dataStart = errno == ENXIO ? off_t(size) : position }
            dataStart = Swift.min(dataStart, off_t(size))
            while position < dataStart {
                let count = Int(Swift.min(off_t(chunk), dataStart - position))
                zeros.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                position += off_t(count)
            }
            var dataEnd = lseek(fd, dataStart, seekHole)
            if dataEnd < 0 { dataEnd = off_t(size) }
            dataEnd = Swift.min(dataEnd, off_t(size))
            while position < dataEnd {
                let want = Int(Swift.min(off_t(chunk), dataEnd - position))
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, position) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return nil }
                buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                position += off_t(n)
            }
        }
        return lowercaseHex(hasher.finalize())
    }
}
