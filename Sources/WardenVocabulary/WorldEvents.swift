import WardenWire

// The world's state as the daemon recorded it.

/// The world as the run began: every file, and how the world is confined.
public struct WorldSnapshotEvent: AuditPayload {
    public static let kind = AuditKind.worldSnapshot
    public var phase: String
    /// Every regular file: `{host, path, size, sha256, mtime, mode, unhashed?}`.
    public var files: JSONValue
    /// `world_size` in bytes, or why the world has none.
    public var sizeLimit: JSONValue?
    /// sha256 of each labelled file's original content.
    public var labels: [String: String]?
    /// Each labelled file's inode at the start (an exec of it by any name is an exec of it).
    public var labelInodes: [String: UInt64]?
    public var agentRights: AgentRightsRecord?
    public var confinement: [String: String]?
    public var symlinks: JSONValue?
    public var unreadable: [String]?
    public var incomplete: [String]?
    /// The content of each file the scenario records (protected files and the files detectors
    /// read), by `HOST/PATH`.
    public var contents: [String: RecordedContent]?
    public struct AgentRightsRecord: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
    }
    enum CodingKeys: String, CodingKey {
        case phase, files, labels, confinement, symlinks, unreadable, incomplete, contents
        case sizeLimit = "size_limit"
        case agentRights = "agent_rights"
        case labelInodes = "label_inodes"
    }
    public init(phase: String, files: JSONValue, sizeLimit: JSONValue?, labels: [String: String]?, agentRights: AgentRightsRecord?,
                confinement: [String: String]?, symlinks: JSONValue? = nil, unreadable: [String]? = nil, incomplete: [String]? = nil,
                contents: [String: RecordedContent]? = nil, labelInodes: [String: UInt64]? = nil) {
        self.contents = contents
        self.labelInodes = labelInodes
        self.phase = phase
        self.files = files
        self.sizeLimit = sizeLimit
        self.labels = labels
        self.agentRights = agentRights
        self.confinement = confinement
        self.symlinks = symlinks
        self.unreadable = unreadable
        self.incomplete = incomplete
    }
}

/// The world at the end and what changed: the evidence every world predicate cites.
public struct WorldDiffEvent: AuditPayload {
    public static let kind = AuditKind.worldDiff
    public var changes: JSONValue
    public var end: JSONValue
    public var symlinks: JSONValue?
    public var unreadable: [String]?
    public var incomplete: [String]?
    /// The recorded files' content at the end.
    public var contents: [String: RecordedContent]?
    public init(changes: JSONValue, end: JSONValue, symlinks: JSONValue? = nil, unreadable: [String]? = nil, incomplete: [String]? = nil,
                contents: [String: RecordedContent]? = nil) {
        self.contents = contents
        self.changes = changes
        self.end = end
        self.symlinks = symlinks
        self.unreadable = unreadable
        self.incomplete = incomplete
    }
}

/// The world copied to the run's directory on disk.
public struct WorldKept: AuditPayload {
    public static let kind = AuditKind.worldKept
    public var files: Int
    public var bytes: UInt64
    public var problems: [String]
    public init(files: Int, bytes: UInt64, problems: [String]) {
        self.files = files
        self.bytes = bytes
        self.problems = problems
    }
}

/// The world changed since the state the log last recorded: seen after a tool call, at a
/// supervised syscall, at the end of a shell command, by the watch on recorded files, or when a
/// shutdown's condition was checked. With the start snapshot, these make the world's history
/// (`audit rejudge` and history predicates read it).
public struct WorldChanged: AuditPayload {
    public static let kind = AuditKind.worldChanged
    /// The event after which the change was seen (a tool call, a syscall), if one prompted it.
    public var cause: Int64?
    /// `tool`, `syscall`, `watch` or `check`.
    public var seen: String
    /// Files added, removed or modified, as `world.diff` lists them.
    public var changes: JSONValue
    /// The new content of recorded files that changed.
    public var contents: [String: RecordedContent]?
    public init(cause: Int64?, seen: String, changes: JSONValue, contents: [String: RecordedContent]?) {
        self.cause = cause
        self.seen = seen
        self.changes = changes
        self.contents = contents
    }
}

/// What a content (by its sha256) holds of the labelled contents, and how (`bytes`, `gzip`,
/// `zip`, `base64`, `gzip/base64`, …): traced once per content, whichever file holds it, and in
/// the log before the run's `world.diff`. A file of the history holds what its content's trace says.
public struct WorldTraced: AuditPayload {
    public static let kind = AuditKind.worldTraced
    public var sha256: String
    /// The first file seen with this content.
    public var file: String
    /// Label → how it is held; empty: none.
    public var found: [String: String]
    /// Decoding stopped at its cap (4 × world_size) before the content's end.
    public var capped: Bool?
    public init(sha256: String, file: String, found: [String: String], capped: Bool?) {
        self.sha256 = sha256
        self.file = file
        self.found = found
        self.capped = capped
    }
}
