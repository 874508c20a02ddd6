import WardenScenario

/// One name inside a directory, as the kernel reads it: bytes with no `/` and no NUL, not `.` or
/// `..`, 1 to 255 bytes, NUL-terminated for the `*at` calls. The only thing world code passes
/// as a name to `openat2`, `unlinkat`, `renameat2`, `mkdirat`, `fstatat`, `utimensat` or
/// `readlinkat` relative to a directory descriptor, so no call can be handed a path that walks.
struct Component: Sendable, Equatable {
    /// The bytes, NUL-terminated.
    let name: [CChar]

    init?<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count <= WorldPath.maxComponentBytes, !bytes.contains(0x2F), !bytes.contains(0),
              !bytes.elementsEqual([0x2E]), !bytes.elementsEqual([0x2E, 0x2E]) else { return nil }
        name = bytes.map { CChar(bitPattern: $0) } + [0]
    }

    var bytes: [UInt8] { name.dropLast().map { UInt8(bitPattern: $0) } }

    /// How evidence names it (`WorldKey.spell`).
    var spelled: String { WorldKey.spell(bytes) }

    /// The length of `spelled`, counted without spelling it.
    var spelledCount: Int {
        var count = 0
        for char in name.dropLast() { count += Self.spelledCount(UInt8(bitPattern: char)) }
        return count
    }

    /// How many bytes `WorldKey.spell` spells `byte` with: a backslash doubled, printable ASCII as is,
    /// anything else as `\xNN`.
    static func spelledCount(_ byte: UInt8) -> Int {
        switch byte {
        case 0x5C: 2
        case 0x20..<0x7F: 1
        default: 4
        }
    }

    /// A relative path of the world split into its components, on its bytes; nil (with why) when
    /// it is not one (`WorldPath.problem`).
    static func path(_ path: String) -> Result<[Component], PathProblem> {
        if let problem = WorldPath.problem(path) { return .failure(PathProblem(why: problem, tooLong: problem.contains("longer than"))) }
        var parts: [Component] = []
        for part in Array(path.utf8).split(separator: 0x2F, omittingEmptySubsequences: false) {
            guard let component = Component(part) else { return .failure(PathProblem(why: "the path has a part that is not a name", tooLong: false)) }
            parts.append(component)
        }
        return .success(parts)
    }

    struct PathProblem: Error {
        var why: String
        var tooLong: Bool
    }

    /// `components` joined with `/`, NUL-terminated: a relative path for `openat2`.
    static func joined<Components: Collection<Component>>(_ components: Components) -> [CChar] {
        var path: [CChar] = []
        for (index, component) in components.enumerated() {
            if index > 0 { path.append(CChar(UInt8(ascii: "/"))) }
            path += component.name.dropLast()
        }
        return path + [0]
    }
}
