import Foundation
import WardenCore
import WardenVocabulary
import Glibc

/// Who may drive the daemon: root, the daemon's own user, and members of the control group
/// (default `warden`). Membership is read for the connecting process itself: its gid from
/// SO_PEERCRED and its supplementary groups from /proc/PID/status.
struct ControlAccess: Sendable {
    let groupName: String
    /// The group's id, or nil when the group does not exist on this host (then only root and
    /// the daemon's user are served).
    let groupID: UInt32?
    let daemonUID = getuid()

    init(groupName: String) {
        self.groupName = groupName
        groupID = getgrnam(groupName).map { $0.pointee.gr_gid }
    }

    func allows(_ caller: Caller) -> Bool {
        if caller.uid == 0 || caller.uid == daemonUID { return true }
        guard let groupID else { return false }
        if caller.gid == groupID { return true }
        return Self.supplementaryGroups(of: caller.pid).contains(groupID)
    }

    func refusal(_ caller: Caller) -> String {
        let group = groupID == nil ? "the group '\(groupName)' (which does not exist on this host)" : "the group '\(groupName)'"
        return "permission denied: uid \(caller.uid) may not use wardend; ask an administrator to add you to \(group)"
    }

    static func supplementaryGroups(of pid: Int32) -> [UInt32] {
        guard pid > 0, let text = KernelFile.text("/proc/\(pid)/status") else { return [] }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
    }
}
