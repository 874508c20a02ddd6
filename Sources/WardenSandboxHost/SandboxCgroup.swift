import Foundation
import Glibc
import WardenCore
import WardenSandbox

/// The cgroups a launcher made for one sandbox (`warden-PID`, PID the launcher's): a leaf under
/// each v1 controller's `INSTANCE` group (`SandboxSpec.instance`), or one under the daemon's own
/// v2 cgroup. The launcher leaves them to the daemon, which reads what their limits did while the
/// sandbox runs and at its end.
public struct SandboxCgroup: Sendable {
    /// The leaves that exist (none when the sandbox ran without cgroups).
    public let leaves: [String]

    public init(launcherPID pid: pid_t, instance: String) {
        let name = "warden-\(pid)"
        var leaves = ["memory", "pids", "cpu"].map { "/sys/fs/cgroup/\($0)/\(instance)/\(name)" }
        if let own = KernelFile.text("/proc/self/cgroup")?
            .split(separator: "\n").first(where: { $0.hasPrefix("0::") })?.dropFirst(3) {
            leaves.append("/sys/fs/cgroup" + own + "/" + name)
        }
        self.leaves = leaves.filter { access($0, F_OK) == 0 }
    }

    /// A counter of what a limit did, and where the kernel keeps it.
    public struct Counter: Sendable {
        var file: String
        /// The line's key (`max 3`), or empty for a file holding one number.
        var key: String
        var name: String
    }

    /// Forks refused at pids.max.
    public static let pidsMax = Counter(file: "pids.events", key: "max", name: "pids_max")
    /// Every counter: `pids_max`, `oom_kill` (processes killed at memory.max, v2 and v1 files),
    /// `memory_max` (times the memory limit was hit).
    public static let allCounters = [pidsMax, Counter(file: "memory.events", key: "oom_kill", name: "oom_kill"),
                                     Counter(file: "memory.events", key: "max", name: "memory_max"),
                                     Counter(file: "memory.oom_control", key: "oom_kill", name: "oom_kill"),
                                     Counter(file: "memory.failcnt", key: "", name: "memory_max")]

    /// The counters' values, summed over the leaves; a counter no leaf has is absent.
    public func events(_ counters: [Counter] = allCounters) -> [String: Int] {
        var events: [String: Int] = [:]
        for leaf in leaves {
            for counter in counters {
                guard let text = KernelFile.text(leaf + "/" + counter.file) else { continue }
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    if counter.key.isEmpty, words.count == 1, let value = Int(words[0]) { events[counter.name, default: 0] += value }
                    if words.count == 2, words[0] == counter.key, let value = Int(words[1]) { events[counter.name, default: 0] += value }
                }
            }
        }
        return events
    }

    /// The processes in the sandbox now (from the first leaf that lists any).
    public func processes() -> [pid_t] {
        for leaf in leaves {
            guard let text = KernelFile.text(leaf + "/cgroup.procs"), !text.isEmpty else { continue }
            return text.split(separator: "\n").compactMap { pid_t($0) }
        }
        return []
    }
}
