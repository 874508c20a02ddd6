import Foundation
import Synchronization
import WardenAudit
import WardenVocabulary

/// Run and suite ids: `run-YYYYMMDD-HHMMSS-xxxx`, readable and ordered by their second, with a
/// random four-digit hex suffix — and unique. Drawn at random alone, runs starting in the same
/// second would sometimes share an id, mixing two trials' evidence under it. So every suffix
/// issued in the current second is remembered, and an id the audit log already holds (issued
/// before a restart within the same second) is passed over.
final class RunIDs: Sendable {
    static let shared = RunIDs()

    /// The second the remembered suffixes belong to, and those suffixes.
    private let issued = Mutex<(stamp: String, suffixes: Set<UInt16>)>(("", []))

    /// A new id `prefix-STAMP-SUFFIX` that this daemon has not issued before and `taken` does not
    /// report as used.
    func next(_ prefix: String, taken: (String) -> Bool = { _ in false }) -> String {
        while true {
            let id = issued.withLock { issued -> String? in
                let stamp = Self.stamp()
                if stamp != issued.stamp { issued = (stamp, []) }
                // 65,536 ids in one second: none is left until the next one.
                guard issued.suffixes.count <= UInt16.max else { return nil }
                var suffix = UInt16.random(in: 0...UInt16.max)
                while !issued.suffixes.insert(suffix).inserted { suffix = UInt16.random(in: 0...UInt16.max) }
                return prefix + "-" + stamp + "-" + String(format: "%04x", suffix)
            }
            guard let id else {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            if !taken(id) { return id }
        }
    }

    /// A new id not yet used in `audit` (or issued by this daemon).
    func next(_ prefix: String, unusedIn audit: AuditLog) -> String {
        next(prefix) { Self.isUsed($0, in: audit) }
    }

    /// Whether `audit` holds an event under `id`. (A log that cannot be read counts as not
    /// holding it: the ids of this daemon's lifetime are still unique.)
    static func isUsed(_ id: String, in audit: AuditLog) -> Bool {
        (try? audit.events(run: id, limit: 1).isEmpty == false) ?? false
    }

    /// The current second, UTC: `YYYYMMDD-HHMMSS`.
    private static func stamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        return String(format: "%04d%02d%02d-%02d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
