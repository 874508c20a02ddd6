import CWardenWorld
import Glibc

/// The file-system rights of a run's agents: the host uid and gid their sandbox maps them to.
/// World threads (`WorldThread`) take them for good when they start — fsuid and fsgid set to the
/// agent's, no supplementary groups, no capabilities but the one an observer keeps — so the
/// kernel grants every world operation exactly what the agent could do itself and fails the
/// rest with the errno the agent would get. The kernel keeps these per thread; the calls go to
/// the syscalls directly (glibc's wrappers would change every thread of the process).
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
        separateFromWardend ? AgentRights(uid: hostUID, gid: hostGID) : AgentRights(uid: getuid(), gid: getgid())
    }

    /// Whether sandboxed agents get ids apart from wardend's: only as root, when the launcher
    /// maps them to the policy's host ids (never 0: a policy refuses root ids). Otherwise their
    /// files are wardend's own, and so is the world's `hosts` directory wardend makes.
    public static var separateFromWardend: Bool { getuid() == 0 }

    public var description: String { "uid \(uid), gid \(gid)" }

    static let capSetGID: UInt64 = 1 << 6
    static let capDACReadSearch: UInt64 = 1 << 2

    /// Takes these rights on the calling thread for the rest of its life. With `readEverything`,
    /// the thread keeps CAP_DAC_READ_SEARCH where the process has it (an observer reads what the
    /// agent made unreadable to itself), and says whether it did. Throws without a change it
    /// cannot undo when the ids cannot be taken.
    @discardableResult
    public func take(readEverything: Bool = false) throws(WorldError) -> Bool {
        var effective: UInt64 = 0
        var permitted: UInt64 = 0
        guard warden_thread_capabilities(&effective, &permitted) == 0 else {
            throw WorldError(.rights, "cannot read this thread's capabilities", errno: errno)
        }
        if permitted & Self.capSetGID != 0 {
            guard warden_thread_setgroups(0, nil) == 0 else { throw WorldError(.rights, "cannot clear this thread's supplementary groups", errno: errno) }
        }
        _ = warden_thread_setfsgid(Int32(bitPattern: gid))
        _ = warden_thread_setfsuid(Int32(bitPattern: uid))
        // setfsuid reports no error: the value read back says whether the change took.
        guard UInt32(bitPattern: warden_thread_setfsuid(-1)) == uid, UInt32(bitPattern: warden_thread_setfsgid(-1)) == gid else {
            throw WorldError(.rights, "cannot take the agent's file-system ids (\(description)): wardend lacks CAP_SETUID or CAP_SETGID")
        }
        let kept = readEverything ? permitted & Self.capDACReadSearch : 0
        guard warden_thread_set_capabilities(kept) == 0 else {
            throw WorldError(.rights, "cannot drop this thread's capabilities", errno: errno)
        }
        return kept != 0
    }
}
