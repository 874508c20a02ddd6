import Foundation

/// Finds Warden's installed files (policies, agent binaries) the same way in every program:
/// an explicit path first, then `/etc/warden`, then the `policies/` folder of the source
/// checkout the running binary was built in, so a fresh checkout works with no flags.
public enum PolicyLocator {
    public static let systemDirectory = "/etc/warden"

    /// The policies directory: `explicit`, else `$WARDEN_POLICY_DIR`, else
    /// `/etc/warden/policies`, else `policies/` of the enclosing checkout.
    public static func policiesDirectory(explicit: String? = nil) -> String? {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["WARDEN_POLICY_DIR"], !env.isEmpty { return env }
        let system = systemDirectory + "/policies"
        if FileManager.default.fileExists(atPath: system + "/seccomp/default.yaml") { return system }
        return checkoutDirectory().map { $0 + "/policies" }
    }

    /// The policy file `relative` (e.g. `seccomp/default.yaml`), or nil when none is found.
    public static func policyFile(_ relative: String, explicit: String? = nil) -> String? {
        if let explicit { return explicit }
        guard let dir = policiesDirectory() else { return nil }
        let path = dir + "/" + relative
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The source checkout holding the running executable, found by walking up from it to a
    /// folder with `policies/seccomp/default.yaml`.
    public static func checkoutDirectory() -> String? {
        var dir = URL(fileURLWithPath: executableDirectory())
        for _ in 0..<8 {
            if FileManager.default.fileExists(atPath: dir.path + "/policies/seccomp/default.yaml") { return dir.path }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        return nil
    }

    /// The directory of the running executable (`/proc/self/exe`).
    public static func executableDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// A Warden executable (`warden-sandbox`, `warden-agent`): next to the running one, else on PATH.
    public static func executable(_ name: String) -> String? {
        let sibling = executableDirectory() + "/" + name
        if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
