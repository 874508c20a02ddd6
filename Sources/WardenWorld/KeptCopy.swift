import Foundation
import Glibc
import WardenScenario

/// The kept copy of a world as it is written: the steps the observer sends (`World.KeepStep`)
/// mirrored into a destination directory, on a thread of its own with wardend's own rights (the
/// copy is wardend's, in its state directory, which no sandbox reaches). The thread blocks on
/// the disk as long as the copy takes, and no other work waits for it.
///
/// Directories are made when the first file in them is, and only the descriptors of the chain
/// from the destination down to the current directory are open (`DirectoryChain`). A file with
/// several names is copied once; its later names are hard links to the first, found again by
/// the first's directory (remembered as its index among the directories made, with its parent's
/// index and its name) reopened beneath the destination (`Beneath`: `openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), never through a symlink of the copy, which holds the
/// agent's.
struct KeptCopy {
    /// A file of the world, as the first of its names was kept.
    struct FileID: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    let destination: Descriptor
    let sizeLimit: UInt64
    let beforeEachFile: @Sendable () -> Void
    /// The directories made, from the destination down to the current one.
    var chain: DirectoryChain
    /// Directories entered but not made yet (no file in them so far), below `chain`.
    var pending: [Component] = []
    /// The names from the destination down to the current directory, made or pending.
    var path: [Component] = []
    /// Every directory made: its parent's index (-1: the destination) and its name.
    var made: [(parent: Int32, name: Component)] = []
    /// Files with several names, by identity: where the first name was kept.
    var firstNames: [FileID: (directory: Int32, name: Component)] = [:]
    var budget: UInt64
    var kept = World.Kept()
    /// Set when the copy's own directories could not be found again: nothing more is written.
    var broken = false

    /// Takes every step of `channel` on a new thread and returns what was kept.
    static func write(from channel: World.KeepChannel, into destination: Descriptor, sizeLimit: UInt64,
                      beforeEachFile: @escaping @Sendable () -> Void) async -> World.Kept {
        await withCheckedContinuation { (continuation: CheckedContinuation<World.Kept, Never>) in
            let thread = Thread {
                guard let chain = DirectoryChain(top: destination) else {
                    while channel.receive() != nil {}
                    continuation.resume(returning: World.Kept(problems: ["the copy's directory could not be examined; nothing is kept"]))
                    return
                }
                var copy = KeptCopy(destination: destination, sizeLimit: sizeLimit, beforeEachFile: beforeEachFile, chain: chain, budget: sizeLimit)
                while let step = channel.receive() { copy.take(step) }
                continuation.resume(returning: copy.kept)
            }
            thread.name = "world-keeper"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    mutating func take(_ step: World.KeepStep) {
        switch step {
        case .enter(let name):
            pending.append(name)
            path.append(name)
        case .leave:
            path.removeLast()
            if !pending.isEmpty {
                pending.removeLast()
                return
            }
            guard !broken else { return }
            if !chain.pop() {
                // The copy's own directories changed under it: wardend's state directory is not
                // the copy's alone. Stop writing rather than write elsewhere.
                kept.problems.append("the copy's directories changed while it was written; the rest is not kept")
                broken = true
            }
        case .symbolicLink(let name, let target):
            guard !broken else { return }
            do throws(WorldError) {
                let directory = try current()
                guard symlinkat(target.map { CChar(bitPattern: $0) } + [0], directory.fd, name.name) == 0 else {
                    throw WorldError(.failed, "cannot keep the symlink", errno: errno)
                }
                kept.files += 1
            } catch {
                kept.problems.append("\(shown(name)): \(error)")
            }
        case .file(let name, let source, let identity, let links, let size, let mode, let times):
            guard !broken else { return }
            beforeEachFile()
            do throws(WorldError) {
                let directory = try current()
                if links > 1, let first = firstNames[identity] {
                    try linkToFirst(first, in: directory, name)
                    kept.files += 1
                    return
                }
                let fd = openat(directory.fd, name.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw WorldError(.failed, "cannot create the copy", errno: errno) }
                let copy = Descriptor(owning: fd)
                let before = budget
                let whole = try FileCopy.copy(from: source.fd, to: copy.fd, size: size, budget: &budget, describing: shown(name))
                kept.bytes += before - budget
                kept.files += 1
                if links > 1 { firstNames[identity] = (chain.currentNode, name) }
                if !whole { kept.problems.append("\(shown(name)): cut where the world's size limit of \(sizeLimit) bytes of data ran out") }
                fchmod(copy.fd, mode & 0o755)
                var times = times
                futimens(copy.fd, &times)
            } catch {
                kept.problems.append("\(shown(name)): \(error)")
            }
        }
    }

    /// The directory the steps are in, made (0755) with those above it as needed.
    private mutating func current() throws(WorldError) -> Descriptor {
        while let name = pending.first {
            let parent = chain.current
            if mkdirat(parent.fd, name.name, 0o755) != 0, errno != EEXIST {
                throw WorldError(.failed, "cannot create a directory of the copy", errno: errno)
            }
            let fd = openat(parent.fd, name.name, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw WorldError(.failed, "cannot open a directory of the copy", errno: errno) }
            made.append((chain.currentNode, name))
            guard chain.push(Descriptor(owning: fd), name: name, node: Int32(made.count - 1)) else {
                made.removeLast()
                throw WorldError(.failed, "cannot examine a directory of the copy", errno: errno)
            }
            pending.removeFirst()
        }
        return chain.current
    }

    /// Links `name` in `directory` to the file first kept as `first`.
    private func linkToFirst(_ first: (directory: Int32, name: Component), in directory: Descriptor, _ name: Component) throws(WorldError) {
        var source = directory
        if first.directory != chain.currentNode {
            var names: [Component] = []
            var index = first.directory
            while index >= 0 {
                names.append(made[Int(index)].name)
                index = made[Int(index)].parent
            }
            if !names.isEmpty {
                let fd = Beneath.open(destination.fd, names.reversed(), flags: oPath | O_DIRECTORY)
                guard fd >= 0 else { throw WorldError(.failed, "cannot find the first copy of this file again", errno: errno) }
                source = Descriptor(owning: fd)
            } else {
                source = destination
            }
        }
        guard linkat(source.fd, first.name.name, directory.fd, name.name, 0) == 0 else {
            throw WorldError(.failed, "cannot keep this file as a link", errno: errno)
        }
    }

    /// How a problem names the entry `name` of the current directory: `HOST/PATH`, spelled, cut
    /// after 300 characters.
    private func shown(_ name: Component) -> String {
        var shown = ""
        for component in path.dropFirst() + [name] {
            if !shown.isEmpty { shown += "/" }
            shown += component.spelled
            if shown.utf8.count > 300 { return String(shown.prefix(300)) + "…" }
        }
        return shown
    }
}
