import Foundation
import Glibc
import Logging
import Synchronization
import WardenBroker
import WardenCore

/// Watches the directories of the files a scenario records (inotify) and has the world recorded
/// whenever something in them changes. Snapshots after tool calls and at supervised syscalls
/// see most changes; this one sees a change made between them (writes through a descriptor
/// held open, which no syscall the supervisor sees separates), as soon as the kernel reports it.
final class RecordedFilesWatch: Sendable {
    private let inotify: Int32
    private let stopping = StopFlag()

    final class StopFlag: Sendable {
        let raised = Atomic<Bool>(false)
    }

    /// Watches `directories` (paths in wardend's view of the world); nil if inotify is unavailable.
    init?(directories: [String], recorder: WorldRecorder, logger: Logger) {
        inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0 else {
            logger.warning("no inotify: recorded files are snapshotted only after tool calls and supervised syscalls",
                           metadata: ["errno": "\(errno)"])
            return nil
        }
        let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE)
        for directory in Set(directories) { _ = inotify_add_watch(inotify, directory, mask) }
        let (fd, stopping) = (inotify, stopping)
        let watcher = Thread {
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while !stopping.raised.load(ordering: .acquiring) {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                // Drain every queued event: one snapshot covers them all.
                while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
                recorder.recordWaiting(cause: nil, seen: "watch")
            }
            close(fd)
        }
        watcher.name = "warden-watch"
        watcher.stackSize = 256 << 10
        watcher.start()
    }

    /// Stops watching within a poll interval; the thread closes the descriptor as it ends.
    func stop() { stopping.raised.store(true, ordering: .releasing) }
}
