import CWardenWorld
import Glibc
import WardenCore

public enum WorldErrorCode: String, Sendable {
    /// The path or server name is not a place in the world.
    case invalidPath = "world.invalid_path"
    /// Resolution refused: a symlink, a mount or a way out of the world lies on the path.
    case refused = "world.refused"
    /// The kernel refused the operation itself (permissions, no such file, no space, …).
    case failed = "world.failed"
    /// The daemon could not take the agent's rights for the operation; nothing was done.
    case rights = "world.rights"
}

/// A world operation that did not happen, shown to the agent as a tool error. Its cause is what
/// the kernel answered — with the agent's own rights, so it is what the agent would have got
/// doing the same itself (`SystemError`) — or, when the path's resolution itself was refused,
/// the `Refusal`.
public typealias WorldError = CodedError<WorldErrorCode>

extension CodedError where Code == WorldErrorCode {
    public init(_ code: WorldErrorCode, _ message: String, errno: Int32? = nil, refusal: Refusal? = nil) {
        self.init(code, message, cause: refusal ?? errno.map(SystemError.init))
    }

    /// The kernel's answer, if there was one.
    public var errno: Int32? {
        if let refusal { return refusal.errno }
        return (cause as? SystemError)?.errno
    }

    /// Why resolution was refused, when it was.
    public var refusal: Refusal? { cause as? Refusal }
}

/// Why resolving a world path was refused, for the audit log: the place asked for, the errno
/// of the confined resolution, the symlink in the way and whether following it would have left
/// the world (the evidence behind `escape_attempt`).
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The place asked for (`WorldKey`).
    public var place: String
    public var errno: Int32
    /// The symlink in the way, judged as the supervisor judges one (`EscapePaths`), leads out of
    /// the world.
    public var leavesWorld: Bool
    /// Where that symlink is (`WorldKey`), when it was found.
    public var link: String?

    public init(place: String, errno: Int32, leavesWorld: Bool, link: String? = nil) {
        self.place = place
        self.errno = errno
        self.leavesWorld = leavesWorld
        self.link = link
    }

    /// As the agent sees it: what the kernel answered.
    public var description: String { SystemError(errno).description }
}
