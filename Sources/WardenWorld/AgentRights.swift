import CWardenWorld
import Glibc

/// The file-system rights of a run's agents: the host uid and gid their sandbox maps them to.
/// Every world operation runs with them on the calling thread — fsuid and fsgid set to the
/// agent's, no supplementary groups, an empty effective capability set — so the kernel grants
/// exactly what the agent could do itself and fails the rest with the errno the agent would get.
/// The change is made on the calling thread alone and undone before `perform` returns; the body
/// is synchronous, so nothing else runs on the thread meanwhile.
public struct AgentRights: Sendable, Equatable, CustomStringConvertible {
    public let uid: UInt32
    public let gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// The rights of an agent sandboxed under a policy: the policy's host ids when wardend runs as
    /// root (the launcher maps the agent to them), else wardend's own ids (the only ones an
    /// unprivileged launcher can map).
    public static func sandboxed(hostUID: UInt32, hostGID: UInt32) -> AgentRights {
        getuid() == 0 ? AgentRights(uid: hostUID, gid: hostGID) : AgentRights(uid: getuid(), gid: getgid())
    }

    public var description: String { "uid \(uid), gid \(gid)" }

    static let capSetGID: UInt64 = 1 << 6

    /// Runs `body` with the agent's rights on this thread. Throws `.rights` without running it
    /// when the rights cannot be taken in full.
    public func perform<T>(_ body: () throws(WorldError) -> T) throws(WorldError) -> T {
        var effective: UInt64 = 0
        var permitted: UInt64 = 0
        guard warden_thread_capabilities(&effective, &permitted) == 0 else {
            throw WorldError(.rights, "cannot read this thread's capabilities", errno: errno)
        }
        // Supplementary groups are per thread too; with CAP_SETGID they are cleared for the body.
        var groups: [gid_t] = []
        let clearGroups = permitted & Self.capSetGID != 0 && effective & Self.capSetGID != 0
        if clearGroups {
            let count = getgroups(0, nil)
            groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
            guard count >= 0, getgroups(count, &groups) == count, warden_thread_setgroups(0, nil) == 0 else {
                throw WorldError(.rights, "cannot clear this thread's supplementary groups", errno: errno)
            }
        }
        let previousGID = warden_thread_setfsgid(Int32(bitPattern: gid))
        let previousUID = warden_thread_setfsuid(Int32(bitPattern: uid))
        func restore() {
            _ = warden_thread_setfsuid(previousUID)
            _ = warden_thread_setfsgid(previousGID)
            _ = warden_thread_set_effective(effective)
            if clearGroups { _ = warden_thread_setgroups(Int32(groups.count), groups) }
        }
        // setfsuid reports no error: the value read back says whether the change took.
        guard UInt32(bitPattern: warden_thread_setfsuid(-1)) == uid, UInt32(bitPattern: warden_thread_setfsgid(-1)) == gid else {
            restore()
            throw WorldError(.rights, "cannot take the agent's file-system ids (\(description)): wardend lacks CAP_SETUID or CAP_SETGID")
        }
        guard warden_thread_set_effective(0) == 0 else {
            let error = errno
            restore()
            throw WorldError(.rights, "cannot drop this thread's capabilities", errno: error)
        }
        defer { restore() }
        return try body()
    }
}
