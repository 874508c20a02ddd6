import Foundation
import WardenCore

/// RFC 6962 (Certificate Transparency) Merkle trees over the audit log: leaf hash
/// SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right); the tree of n leaves splits at
/// the largest power of two below n. Entries are the events' canonical bytes (`AuditChain.entry`).
public enum Merkle {
    public typealias Hash = [UInt8]

    public static func leafHash(_ entry: [UInt8]) -> Hash {
        entry.withUnsafeBytes { StackSHA256.leaf($0) }.bytes
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        left.withUnsafeBytes { l in right.withUnsafeBytes { r in StackSHA256.hash(prefix: 1, l, r) } }.bytes
    }

    /// The hash of the empty tree: SHA-256 of nothing.
    static let emptyRoot = StackSHA256.hash(UnsafeRawBufferPointer(start: nil, count: 0))

    /// The root of the tree over these leaf hashes (MTH of RFC 6962; the empty tree hashes "").
    public static func root(_ leaves: ArraySlice<Hash>) -> Hash {
        if leaves.isEmpty { return emptyRoot.bytes }
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
        /// (subtree height, root) pairs, strictly decreasing in height; inline digests, so an
        /// append allocates nothing.
        private var subtrees: [(height: Int, hash: Digest32)] = []
        public private(set) var count = 0

        public init() {
            subtrees.reserveCapacity(64)
        }

        /// From 32-byte hashes.
        init(subtrees: [(height: Int, hash: Hash)], count: Int) {
            self.subtrees = subtrees.map { ($0.height, Digest32($0.hash)) }
            self.subtrees.reserveCapacity(64)
            self.count = count
        }

        var subtreeList: [(height: Int, hash: Hash)] { subtrees.map { ($0.height, $0.hash.bytes) } }

        /// Appends a leaf hash (32 bytes).
        public mutating func append(_ leaf: Hash) { append(Digest32(leaf)) }

        mutating func append(_ leaf: Digest32) { append(leaf, nodeHash: StackSHA256.node) }

        /// The same with the node hash computed by `nodeHash` (the verifier's interleaved one).
        @inline(__always)
        mutating func append(_ leaf: Digest32, nodeHash: (Digest32, Digest32) -> Digest32) {
            var node = (height: 0, hash: leaf)
            while let last = subtrees.last, last.height == node.height {
                subtrees.removeLast()
                node = (node.height + 1, nodeHash(last.hash, node.hash))
            }
            subtrees.append(node)
            count += 1
        }

        /// The RFC 6962 root of the leaves appended so far: the subtrees folded right to left.
        public var root: Hash { rootDigest.bytes }

        var rootDigest: Digest32 {
            guard var hash = subtrees.last?.hash else { return emptyRoot }
            for subtree in subtrees.dropLast().reversed() { hash = StackSHA256.node(subtree.hash, hash) }
            return hash
        }
    }
}

extension Array where Element == UInt8 {
    var hex: String { lowercaseHex(self) }
}
