import Foundation
import Glibc
import WardenCore
import WardenSandbox

/// Removes the cgroups a launcher made (`warden-PID`) once its sandbox has ended. They are
/// empty once every process of the sandbox has exited; whatever is still in one is killed first
/// (cgroup.kill on v2, each listed process on v1) — the pid namespace should already have taken
/// everything down, this is the second line — and removal retries briefly while the last die.
public enum CgroupCleanup {
    /// Removes a sandbox's cgroups and returns what their limits did: `pids_max` (forks refused
    /// at pids.max), `oom_kill` (processes killed at memory.max), `memory_max` (times the limit
    /// was hit).
    @discardableResult
    public static func remove(launcherPID pid: pid_t, instance: String) -> [String: Int] {
        let cgroup = SandboxCgroup(launcherPID: pid, instance: instance)
        let existing = cgroup.leaves
        let events = cgroup.events()
        for leaf in existing { killRemaining(leaf) }
        for leaf in existing {
            for _ in 0..<50 {
                if rmdir(leaf) == 0 || errno == ENOENT { break }
                usleep(20_000)
            }
        }
        return events
    }

    /// Whether `pid` is a live process: a launcher killed with its daemon can linger as a
    /// zombie until its new parent reaps it, and a zombie has no executable to show.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) != nil
    }

    /// Kills every process still in the cgroup at `leaf`.
    static func killRemaining(_ leaf: String) {
        guard let procs = KernelFile.text(leaf + "/cgroup.procs"), !procs.isEmpty else { return }
        let killFile = leaf + "/cgroup.kill"
        if FileManager.default.fileExists(atPath: killFile), (try? "1".write(toFile: killFile, atomically: false, encoding: .utf8)) != nil {
            return
        }
        for line in procs.split(separator: "\n") { if let pid = Int32(line) { kill(pid, SIGKILL) } }
    }

    /// Removes leftover `warden-PID` cgroups of `instance` whose launcher is gone (after a crash);
    /// other daemons' are not looked at.
    public static func removeOrphans(instance: String) -> Int {
        var removed = 0
        for controller in ["memory", "pids", "cpu"] {
            let base = "/sys/fs/cgroup/\(controller)/\(instance)"
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where entry.hasPrefix("warden-") {
                guard let pid = Int32(entry.dropFirst("warden-".count)), !isRunning(pid) else { continue }
                killRemaining(base + "/" + entry)
                for _ in 0..<25 where rmdir(base + "/" + entry) != 0 && errno == EBUSY { usleep(20_000) }
                if !FileManager.default.fileExists(atPath: base + "/" + entry) { removed += 1 }
            }
        }
        return removed
    }
}
