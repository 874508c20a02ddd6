import Foundation
import Glibc
import WardenSandbox
import WardenSandboxHost

/// Waits for a child process without blocking Swift's cooperative threads: each wait runs on
/// its own thread, parked in waitpid.
enum ProcessWaiter {
    static func exitCode(of pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: SandboxSpawner.reap(pid))
            }
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    /// Runs blocking work (spawning a sandbox, which waits for the launcher's report) on its own thread.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.start()
        }
    }
}
