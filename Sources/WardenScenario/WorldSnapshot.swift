import Foundation
import WardenCore

/// The state of a world at one moment: (path, size, sha256, mtime, mode) of every file.
public struct WorldSnapshot: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var host: String
        public var path: String
        public var size: Int64
        public var sha256: String
        public var mtime: Int64
        public var mode: UInt32
        /// Why the content was not hashed (`sha256` is empty then): the file could not be read
        /// with the agent's rights, or its apparent size is over the world's size limit.
        public var unhashed: String?

        public init(host: String, path: String, size: Int64, sha256: String, mtime: Int64, mode: UInt32, unhashed: String? = nil) {
            self.host = host
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.mtime = mtime
            self.mode = mode
            self.unhashed = unhashed
        }

        /// An entry as an event records it (`json`); nil if a field is missing.
        public init?(json: JSONValue) {
            guard let host = json["host"]?.stringValue, let path = json["path"]?.stringValue, let size = json["size"]?.intValue,
                  let sha256 = json["sha256"]?.stringValue, let mtime = json["mtime"]?.stringValue.flatMap(WorldTime.parse),
                  let mode = json["mode"]?.stringValue.flatMap({ UInt32($0, radix: 8) }) else { return nil }
            self.init(host: host, path: path, size: size, sha256: sha256, mtime: Int64(mtime.timeIntervalSince1970.rounded(.down)), mode: mode,
                      unhashed: json["unhashed"]?.stringValue)
        }

        public var json: JSONValue {
            var object: [String: JSONValue] = [
                "host": .string(host), "path": .string(path), "size": .int(size), "sha256": .string(sha256),
                "mtime": .string(WorldTime.format(.init(timeIntervalSince1970: Double(mtime)))), "mode": .string(String(mode, radix: 8))]
            if let unhashed { object["unhashed"] = .string(unhashed) }
            return .object(object)
        }
    }

    /// A symlink in the world, with the daemon's judgement of where it leads (`EscapePaths`).
    public struct Symlink: Sendable, Equatable {
        public var host: String
        /// As evidence spells paths (`WorldKey.spell`).
        public var path: String
        public var target: String
        public var leavesWorld: Bool
        public var reason: String

        public init(host: String, path: String, target: String, leavesWorld: Bool, reason: String) {
            self.host = host
            self.path = path
            self.target = target
            self.leavesWorld = leavesWorld
            self.reason = reason
        }

        public var json: JSONValue {
            ["host": .string(host), "path": .string(path), "target": .string(target), "leaves_world": .bool(leavesWorld), "reason": .string(reason)]
        }

        public init?(json: JSONValue) {
            guard let host = json["host"]?.stringValue, let path = json["path"]?.stringValue, let target = json["target"]?.stringValue,
                  let leavesWorld = json["leaves_world"]?.boolValue else { return nil }
            self.init(host: host, path: path, target: target, leavesWorld: leavesWorld, reason: json["reason"]?.stringValue ?? "")
        }
    }

    /// Regular files, keyed by `WorldKey` (`HOST/PATH`, spelled).
    public var entries: [String: Entry]
    /// Symlinks, keyed likewise.
    public var symlinks: [String: Symlink] = [:]
    /// Directories that could not be read (keys), and what a walk's bounds cut: the snapshot
    /// does not see inside them, and says so.
    public var unreadable: [String] = []
    public var cut: [String] = []

    public init(entries: [String: Entry]) { self.entries = entries }

    // What the snapshot holds besides its regular files, for the events that record it (nil
    // when there is none, so a plain world's events carry no empty fields).
    public var symlinksJSON: JSONValue? { symlinks.isEmpty ? nil : .array(symlinks.sorted { $0.key < $1.key }.map { $0.value.json }) }
    public var unreadableKeys: [String]? { unreadable.isEmpty ? nil : unreadable.sorted() }
    public var incompleteKeys: [String]? { cut.isEmpty ? nil : cut }

    public func files(on host: String) -> [Entry] { entries.values.filter { $0.host == host }.sorted { $0.path < $1.path } }
    public func files(withHash hash: String) -> [Entry] { entries.values.filter { $0.sha256 == hash }.sorted { $0.path < $1.path } }

    public var json: JSONValue { .array(entries.sorted { $0.key < $1.key }.map { $0.value.json }) }

    /// A snapshot as an event records it: `files` as `json` gives them, and its extras.
    public init?(files: JSONValue, symlinks: JSONValue? = nil, unreadable: [String]? = nil, incomplete: [String]? = nil) {
        guard let list = files.arrayValue else { return nil }
        var entries: [String: Entry] = [:]
        for item in list {
            guard let entry = Entry(json: item) else { return nil }
            entries[entry.host + "/" + entry.path] = entry  // the path is spelled already (`WorldKey`)
        }
        self.init(entries: entries)
        for item in symlinks?.arrayValue ?? [] {
            guard let link = Symlink(json: item) else { return nil }
            self.symlinks[link.host + "/" + link.path] = link
        }
        self.unreadable = unreadable ?? []
        self.cut = incomplete ?? []
    }

    /// This snapshot with `changes` (as `WorldDiff` lists them) applied.
    public func applying(_ changes: JSONValue) -> WorldSnapshot? {
        var next = self
        for change in changes.arrayValue ?? [] {
            guard let kind = change["kind"]?.stringValue, let key = change["file"]?.stringValue else { return nil }
            switch kind {
            case WorldDiff.Change.Kind.removed.rawValue:
                next.entries[key] = nil
            case WorldDiff.Change.Kind.added.rawValue, WorldDiff.Change.Kind.modified.rawValue:
                guard let after = change["after"].flatMap(Entry.init(json:)) else { return nil }
                next.entries[key] = after
            default:
                return nil
            }
        }
        return next
    }
}

/// What changed between two snapshots.
public struct WorldDiff: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public enum Kind: String, Sendable { case added, removed, modified }
        public var kind: Kind
        public var key: String
        public var before: WorldSnapshot.Entry?
        public var after: WorldSnapshot.Entry?
        /// For `modified`: which of content, mtime, mode changed.
        public var fields: [String]

        public var host: String { after?.host ?? before?.host ?? "" }

        public var json: JSONValue {
            var object: [String: JSONValue] = ["kind": .string(kind.rawValue), "file": .string(key)]
            if let before { object["before"] = before.json }
            if let after { object["after"] = after.json }
            if !fields.isEmpty { object["fields"] = .array(fields.map { .string($0) }) }
            return .object(object)
        }
    }

    public var changes: [Change]

    public init(from before: WorldSnapshot, to after: WorldSnapshot) {
        var changes: [Change] = []
        for key in Set(before.entries.keys).union(after.entries.keys).sorted() {
            switch (before.entries[key], after.entries[key]) {
            case (nil, let added?): changes.append(Change(kind: .added, key: key, before: nil, after: added, fields: []))
            case (let removed?, nil): changes.append(Change(kind: .removed, key: key, before: removed, after: nil, fields: []))
            case (let old?, let new?):
                var fields: [String] = []
                if old.sha256 != new.sha256 { fields.append("content") }
                if old.mtime != new.mtime { fields.append("mtime") }
                if old.mode != new.mode { fields.append("mode") }
                if !fields.isEmpty { changes.append(Change(kind: .modified, key: key, before: old, after: new, fields: fields)) }
            case (nil, nil): break
            }
        }
        self.changes = changes
    }

    public var json: JSONValue { .array(changes.map(\.json)) }
}
