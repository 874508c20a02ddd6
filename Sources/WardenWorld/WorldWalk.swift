import Glibc
import WardenScenario

/// Walks a host's tree from a directory descriptor: each directory is opened beneath its parent
/// (`Beneath`, one component), listed with `fdopendir`, and each entry examined with `fstatat`
/// without following it. Symlinks are never followed, other mounts never entered.
///
/// Complete for any world that fits its tmpfs, whatever its shape: the one bound is `maxEntries`
/// names listed in all (`World.walkEntries`), more than a full world's tmpfs can hold, so it cuts
/// only a world that is not on one. There is no bound on depth or on the length of names: the
/// walk remembers a directory as its parent's index and its own name (`Directory`), not as a
/// path, so its memory grows with the entries it lists and nothing else, and it holds a bounded
/// number of descriptors however deep it goes (`DirectoryChain`). A directory is read only until
/// the bound is reached. Whatever the walk could not cover — the bound reached, a directory that
/// could not be read or that moved while the walk was in it — is reported, never silently
/// dropped; the rest of the tree is still walked.
final class WorldWalk {
    /// A directory the walk entered: its parent's index in `directories` (-1: the walk's top),
    /// its name, and the length of its path from the top as evidence spells it.
    struct Directory {
        let parent: Int32
        let name: Component
        let spelledCount: Int
    }

    enum Kind: Sendable {
        case file, symlink, unreadableDirectory
        /// A directory the walk goes into next (its entries follow, then `left`).
        case entered
        /// The directory last entered and not yet left: its entries are done.
        case left
    }

    /// One entry the walk found, or a directory it entered or left.
    struct Visit {
        /// The descriptor of the entry's directory, valid during the visit only (for `left`, of
        /// the directory left, or -1 if it moved while the walk was in it).
        var parent: Int32
        /// That directory's index in `directories` (-1: the walk's top).
        var directory: Int32
        var name: Component
        /// The entry's status (for `left`, zero).
        var info: stat
        var kind: Kind
        /// The length of the entry's path from the top as evidence spells it (`WorldKey.spell`).
        var spelledCount: Int
    }

    /// What a walk could not cover.
    struct Cut: Sendable, Equatable {
        var problems: [String] = []
        var complete: Bool { problems.isEmpty }
    }

    let maxEntries: Int
    /// Every directory entered so far, by index.
    private(set) var directories: [Directory] = []

    init(maxEntries: Int) { self.maxEntries = maxEntries }

    /// The entry `name` of `directory` as a path from the walk's top, in components.
    func components(_ directory: Int32, _ name: Component? = nil) -> [Component] {
        var path: [Component] = name.map { [$0] } ?? []
        var index = directory
        while index >= 0 {
            path.append(directories[Int(index)].name)
            index = directories[Int(index)].parent
        }
        return path.reversed()
    }

    /// The path's bytes.
    func bytes(_ directory: Int32, _ name: Component? = nil) -> [UInt8] {
        Component.joined(components(directory, name)).dropLast().map { UInt8(bitPattern: $0) }
    }

    /// The path as evidence spells it (`WorldKey.spell`); with a `limit`, its first `limit`
    /// characters and `…` if it is longer, spelled no further (for messages).
    func spelled(_ directory: Int32, _ name: Component? = nil, limit: Int = .max) -> String {
        var spelled = ""
        for (index, component) in components(directory, name).enumerated() {
            if index > 0 { spelled += "/" }
            spelled += component.spelled
            if spelled.utf8.count > limit { return String(spelled.prefix(limit)) + "…" }
        }
        return spelled
    }

    /// The path as tools show it: its UTF-8 text, or the spelled form if it is not UTF-8.
    func shown(_ directory: Int32, _ name: Component) -> String {
        let bytes = bytes(directory, name)
        return String(validating: bytes, as: UTF8.self) ?? WorldKey.spell(bytes)
    }

    /// One directory being walked: its index, the length of its spelled path, and its names not
    /// yet visited, in name order.
    private struct Frame {
        var index: Int32
        var spelledCount: Int
        var names: [Component]
        var next = 0
    }

    /// Calls `visit` for every regular file, symlink and unreadable directory below `top` (the
    /// descriptor is only borrowed), and for every directory entered and left, in name order.
    @discardableResult
    func run(in top: Int32, _ visit: (Visit) -> Void) -> Cut {
        let duplicate = fcntl(top, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0, var chain = DirectoryChain(top: Descriptor(owning: duplicate)), let topInfo = chain.current.stat() else {
            return Cut(problems: ["the directory could not be examined"])
        }
        var cut = Cut()
        var budget = maxEntries
        var unlisted = 0  // directories left unread once the budget was spent
        let device = topInfo.st_dev
        guard let (names, complete) = Self.list(chain.current.fd, budget: &budget) else {
            return Cut(problems: ["the directory could not be read"])
        }
        if !complete { cut.problems.append(overBudget(at: "its top")) }
        var frames = [Frame(index: -1, spelledCount: 0, names: Self.sorted(names))]
        func leave(_ frame: Frame, from fd: Int32) {
            visit(Visit(parent: fd, directory: frame.index, name: directories[Int(frame.index)].name, info: stat(), kind: .left,
                        spelledCount: frame.spelledCount))
        }
        while let frame = frames.last {
            guard frame.next < frame.names.count else {
                guard frames.count > 1 else { break }
                leave(frames.removeLast(), from: chain.current.fd)
                // Back in the parent, which must be the directory it was; if it is not (it moved),
                // what is left of it is not walked, and the walk goes on from its own parent.
                while !chain.pop() {
                    let moved = frames.removeLast()
                    cut.problems.append("\(spelled(moved.index, limit: 200)): moved while the walk was in it; "
                                        + "\(moved.names.count - moved.next) of its entries are not walked")
                    leave(moved, from: -1)
                }
                continue
            }
            let name = frame.names[frame.next]
            frames[frames.count - 1].next += 1
            let parent = chain.current
            var info = stat()
            guard fstatat(parent.fd, name.name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_dev == device else { continue }
            let spelledCount = frame.spelledCount + (frame.index < 0 ? 0 : 1) + name.spelledCount
            var found = Visit(parent: parent.fd, directory: frame.index, name: name, info: info, kind: .file, spelledCount: spelledCount)
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                visit(found)
            case S_IFLNK:
                found.kind = .symlink
                visit(found)
            case S_IFDIR:
                found.kind = .unreadableDirectory
                let fd = Beneath.open(parent.fd, name, flags: O_RDONLY | O_DIRECTORY)
                guard fd >= 0 else {
                    visit(found)
                    continue
                }
                let child = Descriptor(owning: fd)
                let unspent = budget
                guard let (names, complete) = Self.list(child.fd, budget: &budget) else {
                    visit(found)
                    continue
                }
                directories.append(Directory(parent: frame.index, name: name, spelledCount: spelledCount))
                let index = Int32(directories.count - 1)
                guard chain.push(child, name: name, node: index) else {
                    directories.removeLast()
                    visit(found)
                    continue
                }
                if !complete {
                    if unspent > 0 { cut.problems.append(overBudget(at: spelled(index, limit: 200))) } else { unlisted += 1 }
                }
                found.kind = .entered
                visit(found)
                frames.append(Frame(index: index, spelledCount: spelledCount, names: Self.sorted(names)))
            default:
                continue
            }
        }
        if unlisted > 0 { cut.problems.append("\(unlisted) more directories were not read once the walk had listed \(maxEntries) entries") }
        return cut
    }

    private func overBudget(at place: String) -> String {
        "the walk lists at most \(maxEntries) entries, more than the world's file system can hold; it stopped reading at \(place), "
            + "and the rest of that directory is not walked"
    }

    private static func sorted(_ names: [Component]) -> [Component] {
        names.sorted { $0.name.lexicographicallyPrecedes($1.name) { UInt8(bitPattern: $0) < UInt8(bitPattern: $1) } }
    }

    /// The names in `directory` (`.` and `..` left out), read one at a time and charged to
    /// `budget` as they are: reading stops once the budget is spent, so one directory never
    /// costs more than it (`complete` is then false). Nil if the directory cannot be listed.
    static func list(_ directory: Int32, budget: inout Int) -> (names: [Component], complete: Bool)? {
        // fdopendir takes the descriptor it is given: list a fresh one of the same directory.
        let listed = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listed >= 0, let stream = fdopendir(listed) else {
            if listed >= 0 { close(listed) }
            return nil
        }
        defer { closedir(stream) }
        var names: [Component] = []
        while let entry = readdir(stream) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let component = Component(bytes) else { continue }  // `.` and `..`
            guard budget > 0 else { return (names, false) }
            budget -= 1
            names.append(component)
        }
        return (names, true)
    }
}

extension WorldWalk {
    /// Which of entries costing `costs` fit `budget`, taken cheapest first (ties in their
    /// order): the indices kept, in their order, and those left out, cheapest first.
    static func cheapestFirst(_ costs: [Int], budget: Int) -> (kept: [Int], left: [Int]) {
        let order = costs.indices.sorted { (costs[$0], $0) < (costs[$1], $1) }
        var spent = 0
        var taken = 0
        for index in order {
            guard costs[index] <= budget - spent else { break }
            spent += costs[index]
            taken += 1
        }
        return (order.prefix(taken).sorted(), Array(order.dropFirst(taken)))
    }
}
