import Foundation
import Glibc
import WardenCore

/// What wardend may do on this host, probed at start from its effective capabilities, and what
/// each missing one costs. Running as root without the capabilities every sandbox needs is
/// refused at start; a missing optional one is said once in the log and in `wardenctl status`.
struct DaemonPrivileges: Sendable {
    /// A capability, its number, and what is lost without it.
    struct Capability: Sendable {
        var name: String
        var bit: Int
        var without: String
        /// Every sandbox needs it: wardend (as root) does not start without it.
        var required: Bool
    }

    static let capabilities = [
        Capability(name: "CAP_SETUID", bit: 7, without: "no sandbox can map its user", required: true),
        Capability(name: "CAP_SETGID", bit: 6, without: "no sandbox can map its group", required: true),
        Capability(name: "CAP_SETFCAP", bit: 31, without: "no sandbox can map root for its setup", required: true),
        Capability(name: "CAP_SYS_ADMIN", bit: 21,
                   without: "worlds cannot be mounted on tmpfs (no world_size); scenarios that give an agent the shell are refused",
                   required: false),
        Capability(name: "CAP_DAC_READ_SEARCH", bit: 2,
                   without: "files an agent makes unreadable to itself are recorded as unreadable, and their bytes are not followed",
                   required: false),
        Capability(name: "CAP_SYS_NICE", bit: 23, without: "the audit writer runs at normal priority", required: false),
    ]

    var effective: UInt64

    static func probe() -> DaemonPrivileges {
        let line = KernelFile.text("/proc/self/status")?.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
        let hex = line.map { $0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces) } ?? "0"
        return DaemonPrivileges(effective: UInt64(hex, radix: 16) ?? 0)
    }

    func has(_ capability: Capability) -> Bool { effective & (1 << UInt64(capability.bit)) != 0 }

    var missing: [Capability] { Self.capabilities.filter { !has($0) } }

    /// Why wardend must not start, when it runs as root without what every sandbox needs.
    var refusal: String? {
        let required = missing.filter(\.required)
        guard geteuid() == 0, !required.isEmpty else { return nil }
        return "wardend runs as root without \(required.map(\.name).joined(separator: ", ")): "
            + required.map(\.without).joined(separator: "; ") + ". Grant them (the packaged unit's CapabilityBoundingSet does) and start again."
    }

    /// The features this host lacks, for `wardenctl status`: capability → what is lost.
    var unavailable: [String: String] {
        Dictionary(uniqueKeysWithValues: missing.map { ($0.name, $0.without) })
    }
}
