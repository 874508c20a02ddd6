import CWardenWorld
import Glibc

/// Walks a host's tree from a directory descriptor: each directory is opened beneath its parent
/// (`Beneath`, one component), listed with `fdopendir`, and each entry examined with `fstatat`
/// without following it. Symlinks are never followed, other mounts never entered, and the walk
/// is bounded in depth and entries, so a tree an agent shapes cannot make it loop or run long.
enum WorldWalk {
    static let maxDepth = 64
    static let maxEntries = 200_000

    /// One file the walk found: the descriptor of its directory (valid during the visit only),
    /// its name there and every name from the walk's top (raw bytes, NUL-terminated), its path
    /// relative to the top as records show it (`Name.display`), and its status.
    struct Visit {
        var parent: Int32
        var components: [[CChar]]
        var relative: String
        var info: stat
        var name: [CChar] { components.last ?? [0] }
    }

    /// Calls `visit` for every regular file below `directory` (the descriptor is only borrowed).
    /// Returns false when a bound cut the walk short.
    @discardableResult
    static func files(in directory: Int32, _ visit: (_ parent: Int32, _ name: [CChar], _ relative: String, _ info: stat) -> Void) -> Bool {
        entries(in: directory) { entry in
            if entry.info.st_mode & S_IFMT == S_IFREG { visit(entry.parent, entry.name, entry.relative, entry.info) }
        }
    }

    /// Calls `visit` for every regular file and symlink below `directory`.
    @discardableResult
    static func entries(in directory: Int32, _ visit: (Visit) -> Void) -> Bool {
        var top = stat()
        guard fstat(directory, &top) == 0 else { return true }
        var seen = 0
        return walk(directory, components: [], prefix: "", device: top.st_dev, depth: 0, seen: &seen, visit)
    }

    private static func walk(_ directory: Int32, components: [[CChar]], prefix: String, device: dev_t, depth: Int, seen: inout Int,
                             _ visit: (Visit) -> Void) -> Bool {
        // fdopendir takes the descriptor it is given: list a fresh one of the same directory.
        let listed = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listed >= 0, let stream = fdopendir(listed) else {
            if listed >= 0 { close(listed) }
            return true
        }
        defer { closedir(stream) }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
            guard names.count + seen <= maxEntries else { break }
        }
        var complete = true
        for raw in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            seen += 1
            guard seen <= maxEntries else { return false }
            let name = raw.map { CChar(bitPattern: $0) } + [0]
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_dev == device else { continue }
            let relative = prefix + Name.display(raw)
            switch info.st_mode & S_IFMT {
            case S_IFREG, S_IFLNK:
                visit(Visit(parent: directory, components: components + [name], relative: relative, info: info))
            case S_IFDIR:
                guard depth + 1 < maxDepth else {
                    complete = false
                    continue
                }
                let child = Beneath.open(directory, component: name, flags: O_RDONLY | O_DIRECTORY)
                guard child >= 0 else { continue }  // unreadable to the agent, or swapped meanwhile
                defer { close(child) }
                if !walk(child, components: components + [name], prefix: relative + "/", device: device, depth: depth + 1, seen: &seen, visit) {
                    return false
                }
            default:
                continue
            }
        }
        return complete
    }
}

/// File names as records show them: UTF-8 without a backslash as it is; otherwise each
/// backslash doubled and each byte that is not UTF-8 as `\xNN`. The mapping is one to one, so a
/// name that is not UTF-8 is still told apart from every other name, never hidden or merged.
enum Name {
    static func display(_ bytes: [UInt8]) -> String {
        if !bytes.contains(0x5C), let text = String(validating: bytes, as: UTF8.self) { return text }
        var result = ""
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x5C {
                result += "\\\\"
                index += 1
                continue
            }
            var matched = false
            for length in 1...4 where index + length <= bytes.count {
                if let piece = String(validating: bytes[index..<(index + length)], as: UTF8.self) {
                    result += piece
                    index += length
                    matched = true
                    break
                }
            }
            if !matched {
                let hex = String(bytes[index], radix: 16, uppercase: true)
                result += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                index += 1
            }
        }
        return result
    }
}
