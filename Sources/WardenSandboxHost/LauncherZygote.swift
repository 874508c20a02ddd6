import CWardenLinux
import Foundation
import Glibc
import Synchronization
import WardenSandbox

/// The daemon's end of `warden-sandbox --zygote-fd 3`: one warm launcher process that forks
/// standby launchers on request, instead of an exec per sandbox (see the zygote's own comment
/// in warden-sandbox). A launcher it forks is the daemon's child (CLONE_PARENT): reaped, killed
/// and pidfd'd exactly like one started with posix_spawn.
///
/// Its parent-death signal follows the thread that started it, and so do the launchers' (their
/// parent is that thread too): start it on a thread that lives as long as the daemon.
public final class LauncherZygote: Sendable {
    public let pid: pid_t
    /// The request socket (SOCK_SEQPACKET); -1 once the zygote is stopped or found dead.
    private let socket: Mutex<Int32>

    private init(pid: pid_t, socket: Int32) {
        self.pid = pid
        self.socket = Mutex(socket)
    }

    public static func start(launcher: String, instance: String, log: String? = nil) throws(SandboxError) -> LauncherZygote {
        var pair: [Int32] = [0, 0]
        guard warden_seqpacket_pair(&pair) == 0 else { throw SandboxError(.spawn, "socketpair: \(String(cString: strerror(errno)))") }
        let logFD = SandboxSpawner.openLog(log)
        defer { if logFD >= 0 { close(logFD) } }
        defer { close(pair[1]) }
        do {
            let pid = try SandboxSpawner.spawnLauncher(launcher, flag: "--zygote-fd", channel: pair[1], slot: 3, instance: instance, logFD: logFD)
            return LauncherZygote(pid: pid, socket: pair[0])
        } catch {
            close(pair[0])
            throw error
        }
    }

    /// Forks a standby launcher prepared from `template` (encoded), with `control` as its fd 4
    /// and `log` (if >= 0) as its stderr. Nil when the zygote could not (the caller spawns the
    /// launcher itself); a zygote that is gone is marked dead, and every later call returns nil
    /// at once.
    public func forkLauncher(template: Data, control: Int32, log: Int32) -> pid_t? {
        socket.withLock { socket -> pid_t? in
            guard socket >= 0 else { return nil }
            let fds = log >= 0 ? [control, log] : [control]
            let sent = template.withUnsafeBytes { raw in
                fds.withUnsafeBufferPointer { warden_send_with_fds(socket, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
            }
            var reply: Int32 = 0
            var received = -1
            if sent == template.count {
                repeat { received = withUnsafeMutableBytes(of: &reply) { recv(socket, $0.baseAddress, $0.count, 0) } }
                while received < 0 && errno == EINTR
            }
            guard received == MemoryLayout<Int32>.size else {
                close(socket)
                socket = -1
                return nil
            }
            return reply > 0 ? pid_t(reply) : nil
        }
    }

    /// Closes the request socket (the zygote exits on EOF) and reaps it.
    public func stop() {
        socket.withLock { socket in
            if socket >= 0 { close(socket) }
            socket = -1
        }
        SandboxSpawner.reap(pid)
    }
}
