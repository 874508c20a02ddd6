import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The Landlock layer: the filesystem rights the mounts give, enforced by the kernel again.
extension Launcher {
    /// Landlock rules for the same view the mounts give: system and extra binds read and
    /// execute, /tmp and /dev/shm read-write, /dev's nodes read-write, /proc read. Returns what
    /// the report says; throws when the policy's minimum ABI cannot be had (unless best effort).
    func restrictWithLandlock(systemBinds: [String]) throws(LaunchFailure) -> String {
        let available = Int(warden_landlock_abi())
        if available < spec.landlockMinimumABI {
            let have = available > 0 ? "ABI \(available)" : "no Landlock"
            guard spec.landlockBestEffort else {
                throw LaunchFailure(step: "the kernel offers \(have), the sandbox policy needs Landlock ABI \(spec.landlockMinimumABI) (set landlock.best_effort to run without)", errno: 0)
            }
            if available <= 0 { return "unavailable (best effort)" }
        }
        if available <= 0 { return "not required by policy; unavailable" }
        let read = systemBinds + spec.binds.map(\.target)
        let write = ["/tmp", "/dev/shm"] + spec.writableBinds.map(\.target)
        // The failing path is copied out while the C strings it points into still exist.
        var failed: (path: String?, errno: Int32) = (nil, 0)
        let abi = withCStrings(read) { readPointers in
            withCStrings(write) { writePointers in
                withCStrings(["/dev"]) { devicePointers in
                    withCStrings(["/proc"]) { procPointers in
                        var failedPath: UnsafePointer<CChar>?
                        let abi = warden_landlock_restrict(readPointers, Int32(read.count), writePointers, Int32(write.count), devicePointers, 1,
                                                           procPointers, 1, &failedPath)
                        if abi < 0 { failed = (failedPath.map { String(cString: $0) }, errno) }
                        return abi
                    }
                }
            }
        }
        if abi < 0 {
            throw LaunchFailure(step: "apply Landlock\(failed.path.map { " (at \($0))" } ?? "")", errno: failed.errno)
        }
        return "ABI \(abi)"
    }
}
