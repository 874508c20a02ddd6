import Glibc
import WardenScenario

/// Walks a host's tree from a directory descriptor: each directory is opened beneath its parent
/// (`Beneath`, one component), listed with `fdopendir`, and each entry examined with `fstatat`
/// without following it. Symlinks are never followed, other mounts never entered. Bounded: a
/// subtree deeper than `maxDepth` is skipped (the rest is walked), and the walk stops after
/// `maxEntries` entries or `maxNameBytes` bytes of names; what was cut, and each directory that
/// could not be read, is reported, never silently dropped.
enum WorldWalk {
    static let maxDepth = 64
    static let maxEntries = 200_000
    static let maxNameBytes = 16 << 20

    enum Kind: Sendable { case file, symlink, unreadableDirectory }

    /// One entry the walk found: the descriptor of its directory (valid during the visit only),
    /// its components from the walk's top, its path as evidence spells it (`WorldKey.spell`) and
    /// as an agent is shown it, its status and kind.
    struct Visit {
        var parent: Int32
        var components: [Component]
        var spelled: String
        var info: stat
        var kind: Kind
        var name: Component { components[components.count - 1] }
        /// The path as tools show it: its UTF-8 text, or the spelled form if it is not UTF-8.
        var shown: String {
            let bytes = Component.joined(components).dropLast().map { UInt8(bitPattern: $0) }
            return String(validating: bytes, as: UTF8.self) ?? spelled
        }
    }

    /// What a walk could not cover.
    struct Cut: Sendable, Equatable {
        var problems: [String] = []
        var complete: Bool { problems.isEmpty }
    }

    /// Calls `visit` for every regular file, symlink and unreadable directory below `directory`
    /// (the descriptor is only borrowed), in name order.
    @discardableResult
    static func entries(in directory: Int32, _ visit: (Visit) -> Void) -> Cut {
        var top = stat()
        var cut = Cut()
        guard fstat(directory, &top) == 0 else {
            cut.problems.append("the directory could not be examined")
            return cut
        }
        var budget = (entries: maxEntries, nameBytes: maxNameBytes)
        walk(directory, components: [], prefix: "", device: top.st_dev, depth: 0, budget: &budget, cut: &cut, visit)
        return cut
    }

    /// False once a budget ran out (the walk stops everywhere).
    @discardableResult
    private static func walk(_ directory: Int32, components: [Component], prefix: String, device: dev_t, depth: Int,
                             budget: inout (entries: Int, nameBytes: Int), cut: inout Cut, _ visit: (Visit) -> Void) -> Bool {
        // fdopendir takes the descriptor it is given: list a fresh one of the same directory.
        let listed = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listed >= 0, let stream = fdopendir(listed) else {
            if listed >= 0 { close(listed) }
            return true
        }
        var names: [Component] = []
        while let entry = readdir(stream) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let component = Component(bytes) else { continue }  // `.` and `..`
            names.append(component)
        }
        closedir(stream)
        for name in names.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            let spelled = prefix + name.spelled
            budget.entries -= 1
            budget.nameBytes -= spelled.utf8.count
            guard budget.entries >= 0, budget.nameBytes >= 0 else {
                cut.problems.append("the walk stopped after \(maxEntries) entries or \(maxNameBytes >> 20) MiB of names (at \(spelled.prefix(200)))")
                return false
            }
            var info = stat()
            guard fstatat(directory, name.name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_dev == device else { continue }
            let path = components + [name]
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                visit(Visit(parent: directory, components: path, spelled: spelled, info: info, kind: .file))
            case S_IFLNK:
                visit(Visit(parent: directory, components: path, spelled: spelled, info: info, kind: .symlink))
            case S_IFDIR:
                guard depth + 1 < maxDepth else {
                    cut.problems.append("\(spelled): deeper than \(maxDepth) directories; not walked")
                    continue
                }
                let child = Beneath.open(directory, name, flags: O_RDONLY | O_DIRECTORY)
                guard child >= 0 else {
                    visit(Visit(parent: directory, components: path, spelled: spelled, info: info, kind: .unreadableDirectory))
                    continue
                }
                defer { close(child) }
                if !walk(child, components: path, prefix: spelled + "/", device: device, depth: depth + 1, budget: &budget, cut: &cut, visit) {
                    return false
                }
            default:
                continue
            }
        }
        return true
    }
}
