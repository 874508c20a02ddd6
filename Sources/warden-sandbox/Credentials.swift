import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The limits and credentials layer: rlimits, capabilities, ids and no_new_privs.
extension Launcher {
    /// Resource limits, then credentials: the capability bounding set emptied, groups, gid and
    /// uid switched to the sandbox user, capabilities cleared, the parent-death signal set again
    /// and no_new_privs. From here on pid 1 is restricted exactly as the agent will be, so the
    /// agent and the shell's command server inherit one set of layers.
    func applyLimitsAndDropCredentials() throws(LaunchFailure) {
        for (name, value) in spec.rlimits {
            guard let resource = Self.rlimitResource(name) else { continue }
            // CPU time: the hard limit a second above the soft one, so the kernel first sends
            // SIGXCPU (which says why) rather than an anonymous SIGKILL at once.
            var limit = rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(name == "cpu" ? value + 1 : value))
            try check("setrlimit \(name)", setrlimit(resource, &limit))
        }
        try check("drop the capability bounding set", warden_drop_bounding_set())
        if getuid() == 0 { try check("setgroups", setgroups(0, nil)) }
        try check("setresgid", warden_setresgid(spec.gid))
        try check("setresuid", warden_setresuid(spec.uid))
        try check("clear capabilities", warden_clear_capabilities())
        // Dropping credentials cleared the parent-death signal; pid 1 must still die with the
        // setup process, taking the whole pid namespace with it.
        // (getppid() is 0 here: the parent lives outside this pid namespace.)
        try check("set the parent-death signal", warden_set_pdeathsig(SIGKILL))
        try check("set no_new_privs", warden_set_no_new_privs())
    }

    static func rlimitResource(_ name: String) -> __rlimit_resource_t? {
        switch name {
        case "nofile": return __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        case "nproc": return __rlimit_resource_t(6)  // RLIMIT_NPROC, hidden by the Glibc module
        case "core": return __rlimit_resource_t(RLIMIT_CORE.rawValue)
        case "fsize": return __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        case "cpu": return __rlimit_resource_t(RLIMIT_CPU.rawValue)
        case "as": return __rlimit_resource_t(RLIMIT_AS.rawValue)
        default: return nil
        }
    }
}
