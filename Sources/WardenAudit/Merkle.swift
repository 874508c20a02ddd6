import Crypto
import Foundation
import WardenCore

/// RFC 6962 (Certificate Transparency) Merkle trees over the audit log: leaf hash
/// SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right); the tree of n leaves splits at
/// the largest power of two below n. Entries are the events' canonical bytes (`AuditChain.entry`).
public enum Merkle {
    public typealias Hash = [UInt8]

    public static func leafHash(_ entry: [UInt8]) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: entry)
        return Array(hasher.finalize())
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The root of the tree over these leaf hashes (MTH of RFC 6962; the empty tree hashes "").
    public static func root(_ leaves: ArraySlice<Hash>) -> Hash {
        if leaves.isEmpty { return Array(SHA256.hash(data: [UInt8]())) }
        if leaves.count == 1 { return leaves[leaves.startIndex] }
        let split = largestPowerOfTwo(below: leaves.count)
        return nodeHash(root(leaves.prefix(split)), root(leaves.dropFirst(split)))
    }

    /// The audit path of leaf `index` in the tree over `leaves` (PATH of RFC 6962), bottom up.
    public static func inclusionProof(index: Int, leaves: ArraySlice<Hash>) -> [Hash] {
        guard leaves.count > 1 else { return [] }
        let split = largestPowerOfTwo(below: leaves.count)
        if index < split {
            return inclusionProof(index: index, leaves: leaves.prefix(split)) + [root(leaves.dropFirst(split))]
        }
        return inclusionProof(index: index - split, leaves: leaves.dropFirst(split)) + [root(leaves.prefix(split))]
    }

    /// Whether `path` proves leaf `index` (with hash `leaf`) in a tree of `size` leaves with
    /// `root` (the verification algorithm of RFC 9162, section 2.1.3.2).
    public static func verifyInclusion(leaf: Hash, index: Int, size: Int, path: [Hash], root: Hash) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index
        var sn = size - 1
        var hash = leaf
        for sibling in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                hash = nodeHash(sibling, hash)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                hash = nodeHash(hash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && hash == root
    }

    static func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// The roots of the perfect subtrees that make up a growing tree, largest first: appending
    /// a leaf and taking the root are O(log n), so the daemon keeps one in memory.
    public struct Frontier: Sendable {
        /// (subtree height, root) pairs, strictly decreasing in height.
        private var subtrees: [(height: Int, hash: Hash)] = []
        public private(set) var count = 0

        public init() {}

        init(subtrees: [(height: Int, hash: Hash)], count: Int) {
            self.subtrees = subtrees
            self.count = count
        }

        var subtreeList: [(height: Int, hash: Hash)] { subtrees }

        public mutating func append(_ leaf: Hash) {
            var node = (height: 0, hash: leaf)
            while let last = subtrees.last, last.height == node.height {
                subtrees.removeLast()
                node = (node.height + 1, nodeHash(last.hash, node.hash))
            }
            subtrees.append(node)
            count += 1
        }

        /// The RFC 6962 root of the leaves appended so far: the subtrees folded right to left.
        public var root: Hash {
            guard var hash = subtrees.last?.hash else { return Array(SHA256.hash(data: [UInt8]())) }
            for subtree in subtrees.dropLast().reversed() { hash = nodeHash(subtree.hash, hash) }
            return hash
        }
    }
}

extension Array where Element == UInt8 {
    var hex: String { lowercaseHex(self) }
}
