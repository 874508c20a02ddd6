import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The seccomp layer: the compiled allowlist, and the user-notification listener.
extension Launcher {
    /// Installs the seccomp programs. The last filter installed is evaluated first; with
    /// supervision, the listener goes on that one and its fd is returned (else -1).
    func installSeccomp(_ filters: [[UInt8]]) throws(LaunchFailure) -> Int32 {
        var listener: Int32 = -1
        for (index, filter) in filters.reversed().enumerated() {
            let last = index == filters.count - 1
            let rc = filter.withUnsafeBytes { raw in
                last && spec.supervised ? warden_seccomp_install_listener(raw.baseAddress, raw.count)
                    : warden_seccomp_install(raw.baseAddress, raw.count)
            }
            try check("install the seccomp filter", rc)
            if last && spec.supervised { listener = rc }
        }
        return listener
    }
}
