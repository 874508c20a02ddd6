import Glibc
import WardenCore
import WardenScenario
import WardenAudit
import WardenSandbox

/// A daemon's name on its host, from its state directory: `warden-` and the first 12 hex digits
/// of the directory's SHA-256. Its v1 cgroups live under it and its launchers carry it on their
/// command line, so a daemon's start-up clean-up finds only what this state directory's previous
/// daemon left, and daemons with different state directories never touch each other.
enum Instance {
    static func name(stateDirectory: String) -> String {
        "warden-" + String(sha256Hex(Array(stateDirectory.utf8)).prefix(12))
    }
}

/// One daemon per state directory: an exclusive OFD lock on `STATE/wardend.lock`, taken before
/// anything else there is read or written and held for the daemon's life (the kernel drops it
/// when the daemon ends, however it ends). The file says who holds it: pid, host, start time.
final class StateLock: Sendable {
    let fd: Int32
    static let file = "wardend.lock"
    /// F_OFD_SETLK, which Swift's Glibc module leaves out.
    static let setLock: Int32 = 37

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    static func acquire(_ directory: String) throws(DaemonError) -> StateLock {
        let path = directory + "/" + file
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DaemonError(.stateDirectory, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, setLock, &lock) == 0 else {
            let error = errno
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard error == EAGAIN || error == EACCES else {
                throw DaemonError(.stateDirectory, "cannot lock \(path): \(String(cString: strerror(error)))")
            }
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "unknown"
            throw DaemonError(.stateDirectory, "another wardend holds the state directory \(directory) (\(holder)); stop it, or give this one "
                + "another --state-dir")
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let holder: JSONValue = ["pid": .int(Int64(getpid())), "host": .string(String(cString: host)), "started": .string(AuditClock.now())]
        let text = Array((holder.canonicalString + "\n").utf8)
        ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return StateLock(fd: fd)
    }
}
