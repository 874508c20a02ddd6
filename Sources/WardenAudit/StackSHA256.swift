import Crypto
import WardenCore

/// A SHA-256 digest held inline, with no heap storage.
struct Digest32: Equatable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    /// From 32 bytes (a stored hash); fewer are zero-padded, more ignored.
    init(_ bytes: [UInt8]) {
        Swift.withUnsafeMutableBytes(of: &words) { out in
            bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(32))) }
        }
    }

    var bytes: [UInt8] { Swift.withUnsafeBytes(of: words) { Array($0) } }

    /// 64 lower-case hex digits, as the log stores hashes.
    var hex: String { Swift.withUnsafeBytes(of: words) { lowercaseHex($0.assumingMemoryBound(to: UInt8.self)) } }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: words, body)
    }

    static func == (a: Digest32, b: Digest32) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    /// Whether `hex` (64 lower-case hex digits, as stored) spells this digest.
    func matches(hex: UnsafeBufferPointer<UInt8>) -> Bool {
        guard hex.count == 64 else { return false }
        return withUnsafeBytes { bytes in
            var differ: UInt8 = 0
            for index in 0..<32 {
                let byte = bytes[index]
                differ |= (hex[2 * index] ^ hexDigit(byte >> 4)) | (hex[2 * index + 1] ^ hexDigit(byte & 0x0f))
            }
            return differ == 0
        }
    }
}

/// SHA-256 over at most three pieces, through swift-crypto's `SHA256`, its digest copied into
/// a `Digest32` (inline, no heap).
enum StackSHA256 {
    static func hash(prefix: UInt8? = nil, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer? = nil) -> Digest32 {
        var hasher = SHA256()
        if var prefix { Swift.withUnsafeBytes(of: &prefix) { hasher.update(bufferPointer: $0) } }
        hasher.update(bufferPointer: first)
        if let second { hasher.update(bufferPointer: second) }
        return Digest32(hasher.finalize())
    }

    /// RFC 6962 leaf hash: SHA-256(0x00 ‖ entry).
    static func leaf(_ entry: UnsafeRawBufferPointer) -> Digest32 { hash(prefix: 0, entry) }

    /// RFC 6962 node hash: SHA-256(0x01 ‖ left ‖ right).
    static func node(_ left: Digest32, _ right: Digest32) -> Digest32 {
        // One update over the 65 bytes laid out on the stack, not three: each update call has
        // a fixed cost (CPU-feature dispatch, block-buffer bookkeeping), paid per Merkle node.
        var input: (Digest32, Digest32, UInt64) = (Digest32(), Digest32(), 0)  // 72 bytes of scratch
        return Swift.withUnsafeMutableBytes(of: &input) { bytes in
            writeNodeInput(left, right, into: bytes)
            return hash(UnsafeRawBufferPointer(rebasing: bytes[0..<nodeInputLength]))
        }
    }

    static let nodeInputLength = 65

    /// Lays out the node hash's input, 0x01 ‖ left ‖ right, at the start of `scratch`.
    @inline(__always)
    static func writeNodeInput(_ left: Digest32, _ right: Digest32, into scratch: UnsafeMutableRawBufferPointer) {
        scratch[0] = 1
        left.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: scratch[1..<33]).copyMemory(from: $0) }
        right.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: scratch[33..<65]).copyMemory(from: $0) }
    }

    /// The chain link: SHA-256(previous hash ‖ leaf hash).
    static func link(_ previous: Digest32, _ leaf: Digest32) -> Digest32 {
        var input: (Digest32, Digest32) = (previous, leaf)
        return Swift.withUnsafeBytes(of: &input) { hash($0) }
    }
}

/// A Merkle leaf hash begun over `0x00 ‖ head` and finished, later and elsewhere, with the
/// entry's tail. Appenders begin it in parallel; the one writer only finishes it (the seq and
/// the time, under a block of SHA-256) instead of building and hashing the whole entry.
struct PartialLeaf: @unchecked Sendable {
    // @unchecked: swift-crypto's `SHA256` is a copy-on-write value not marked Sendable. A leaf
    // is begun by one appender and handed to the writer through the queue's lock; `finish`
    // updates its own copy, so the begun state is never written after the hand-off.
    private var hasher = SHA256()

    init(head: [UInt8]) {
        hasher.update(data: [0])
        hasher.update(data: head)
    }

    /// SHA-256(0x00 ‖ head ‖ tail).
    func finish(tail: UnsafeRawBufferPointer) -> Digest32 {
        var hasher = self.hasher
        hasher.update(bufferPointer: tail)
        return Digest32(hasher.finalize())
    }
}

extension Digest32 {
    init(_ digest: SHA256.Digest) {
        self.init()
        Swift.withUnsafeMutableBytes(of: &words) { out in digest.withUnsafeBytes { out.copyMemory(from: $0) } }
    }
}
