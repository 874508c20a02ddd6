import Foundation
import Glibc

/// The sd_notify protocol, without libsystemd: datagrams such as `READY=1` or `STATUS=…` to
/// the socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Does
/// nothing when the variable is unset (not started by systemd).
struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half the watchdog interval systemd asked for, when it asked for this process.
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    func notify(_ message: String) {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let payload = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length) }
            }
        }
    }

    /// Sends WATCHDOG=1 at half the interval until cancelled; returns at once without a watchdog.
    func runWatchdog() async {
        guard let watchdogInterval else { return }
        while !Task.isCancelled {
            notify("WATCHDOG=1")
            try? await Task.sleep(for: watchdogInterval)
        }
    }
}

/// Socket activation: the listening socket systemd passes as fd 3 (`LISTEN_FDS`), if it is
/// meant for this process (`LISTEN_PID`).
enum SocketActivation {
    static let firstFD: Int32 = 3

    static func listeningSocket(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int32? {
        guard let count = environment["LISTEN_FDS"].flatMap(Int.init), count > 0 else { return nil }
        guard environment["LISTEN_PID"].flatMap(Int32.init) == getpid() else { return nil }
        guard count == 1 else {
            throw DaemonError(.socket, "systemd passed \(count) sockets; wardend takes exactly one (the control socket)")
        }
        var info = stat()
        guard fstat(firstFD, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else {
            throw DaemonError(.socket, "LISTEN_FDS names fd 3, but it is not a socket")
        }
        _ = fcntl(firstFD, F_SETFD, FD_CLOEXEC)
        return firstFD
    }
}
