import Glibc

/// The open directories from a walk's top down to where the walk is, holding a bounded number
/// of descriptors however deep the tree: the first `held` levels keep theirs, and below them only
/// the current directory's is open. Going back up below `held`, the parent is reopened as `..` of
/// the directory left, and taken only if it is the very directory it was (same device and inode):
/// a directory moved meanwhile is never mistaken for it. Failing that, it is reopened by its
/// names from the deepest directory still held (`Beneath`), and again taken only if it is the
/// same one. `..` can lead nowhere outside the walk's top that the names could not: wherever it
/// leads, what it opens is only kept if it is the directory the walk came down through.
struct DirectoryChain {
    /// Levels whose descriptors stay open while the walk is below them.
    static let held = 32

    struct Link {
        var fd: Descriptor?
        /// Its name in its parent (nil for the top).
        let name: Component?
        let device: dev_t
        let inode: ino_t
        /// The caller's index of this directory (-1 for the top).
        let node: Int32
    }

    private(set) var links: [Link]

    /// A chain at `top`; nil if it cannot be examined.
    init?(top: Descriptor) {
        guard let info = top.stat() else { return nil }
        links = [Link(fd: top, name: nil, device: info.st_dev, inode: info.st_ino, node: -1)]
    }

    /// The directory the chain is at, always open.
    var current: Descriptor { links[links.count - 1].fd! }
    var currentNode: Int32 { links[links.count - 1].node }
    /// How many levels below the top the chain is.
    var depth: Int { links.count - 1 }

    /// Goes down into `fd`, the directory `name` of the current one; false if it cannot be examined.
    mutating func push(_ fd: Descriptor, name: Component, node: Int32) -> Bool {
        guard let info = fd.stat() else { return false }
        if links.count - 1 >= Self.held { links[links.count - 1].fd = nil }
        links.append(Link(fd: fd, name: name, device: info.st_dev, inode: info.st_ino, node: node))
        return true
    }

    /// Goes back up to the parent of the current directory (never above the top). False when the
    /// parent could not be reopened as the directory it was: the chain is then at the parent
    /// without a descriptor, and the caller must `pop` again to leave it too.
    mutating func pop() -> Bool {
        precondition(links.count > 1, "the top of a chain has no parent in it")
        let left = links.removeLast()
        let index = links.count - 1
        if links[index].fd != nil { return true }
        if let child = left.fd {
            let fd = openat(child.fd, "..", oPath | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                let parent = Descriptor(owning: fd)
                if isSame(parent, as: links[index]) {
                    links[index].fd = parent
                    return true
                }
            }
        }
        // The top is always held, so there is an ancestor to start from.
        guard let ancestor = links[..<index].lastIndex(where: { $0.fd != nil }) else { return false }
        let names = links[(ancestor + 1)...index].map { $0.name! }
        let fd = Beneath.open(links[ancestor].fd!.fd, names, flags: oPath | O_DIRECTORY)
        guard fd >= 0 else { return false }
        let reopened = Descriptor(owning: fd)
        guard isSame(reopened, as: links[index]) else { return false }
        links[index].fd = reopened
        return true
    }

    private func isSame(_ fd: Descriptor, as link: Link) -> Bool {
        guard let info = fd.stat() else { return false }
        return info.st_mode & S_IFMT == S_IFDIR && info.st_dev == link.device && info.st_ino == link.inode
    }
}
