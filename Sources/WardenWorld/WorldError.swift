import CWardenWorld
import Glibc
import WardenCore

/// A world operation that did not happen, shown to the agent as a tool error. `errno` is what the
/// kernel answered — with the agent's own rights, so it is what the agent would have got doing
/// the same itself — and `refusal` says when the path's resolution itself was refused.
public struct WorldError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The path or server name is not a place in the world.
        case invalidPath = "invalid_path"
        /// Resolution refused: a symlink, a mount or a way out of the world lies on the path.
        case refused
        /// The kernel refused the operation itself (permissions, no such file, no space, …).
        case failed
        /// The daemon could not take the agent's rights for the operation; nothing was done.
        case rights
    }

    public var code: Code
    public var message: String
    public var errno: Int32?
    public var refusal: Refusal?

    public init(_ code: Code, _ message: String, errno: Int32? = nil, refusal: Refusal? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
        self.refusal = refusal
    }

    /// The message with the kernel's words and errno name, as the agent sees it.
    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno))) (\(ErrnoName.of(errno)))"
    }
}

/// Why resolving a world path was refused, for the audit log: the place asked for, the errno
/// of the confined resolution, the symlink in the way and whether following it would have left
/// the world (the evidence behind `escape_attempt`).
public struct Refusal: Sendable, Equatable {
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

    public var json: JSONValue {
        var object: [String: JSONValue] = ["place": .string(place), "errno": .string(ErrnoName.of(errno)), "leaves_world": .bool(leavesWorld)]
        if let link { object["link"] = .string(link) }
        return .object(object)
    }
}
