import Foundation
import WardenCore
import Glibc

/// Finds and kills launcher processes a previous wardend of this state directory left behind.
/// Launchers die with the daemon (parent-death signal), so this only matters if that failed; it
/// is a check, not the mechanism. A launcher a daemon started runs `warden-sandbox --control-fd
/// 4 --instance INSTANCE` (or `--zygote-fd 3 --instance INSTANCE`); it is left behind when its
/// parent is no longer a wardend. Launchers of other instances (daemons of other state
/// directories), and the launchers' own children, are not touched.
enum LeftoverSandboxes {
    static func kill(launcher: String, instance: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var killed = 0
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(),
                  let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  exe == launcher || exe == launcher + " (deleted)",
                  let cmdline = KernelFile.text("/proc/\(pid)/cmdline"),
                  cmdline.contains("--control-fd") || cmdline.contains("--zygote-fd"),
                  cmdline.split(separator: "\0").split(separator: "--instance").dropFirst().first?.first.map(String.init) == instance,
                  !hasLiveOwner(pid, launcher: launcher)
            else { continue }
            if Glibc.kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        return killed
    }

    /// Whether the process's parent is a wardend or another launcher process.
    static func hasLiveOwner(_ pid: Int32, launcher: String) -> Bool {
        guard let status = KernelFile.text("/proc/\(pid)/stat"),
              let close = status.lastIndex(of: ")") else { return true }
        let fields = status[status.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let parent = Int32(fields[1]) else { return true }
        let parentExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(parent)/exe")) ?? ""
        return parentExe.hasSuffix("/wardend") || parentExe == launcher
    }
}
