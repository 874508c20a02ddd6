// swift-crypto's vendored BoringSSL, reached through the Crypto product this target depends on
// (its C module is visible to every dependant). See `StackSHA256` for why.
import CCryptoBoringSSL
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

/// SHA-256 over at most three pieces, with its state on the stack.
///
/// swift-crypto's `SHA256` runs the same BoringSSL code behind a context object allocated (and
/// zeroised) for every hash, and hands the digest out through a generic sequence copy. The
/// audit log hashes about three times per event (Merkle leaf, chain link, frontier node), and
/// perf showed that wrapper costing more than the hashing itself in `audit verify`; here the
/// hashing is all that is left.
enum StackSHA256 {
    static func hash(prefix: UInt8? = nil, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer? = nil) -> Digest32 {
        var context = SHA256_CTX()
        CCryptoBoringSSL_SHA256_Init(&context)
        if var prefix { CCryptoBoringSSL_SHA256_Update(&context, &prefix, 1) }
        if let base = first.baseAddress { CCryptoBoringSSL_SHA256_Update(&context, base, first.count) }
        if let second, let base = second.baseAddress { CCryptoBoringSSL_SHA256_Update(&context, base, second.count) }
        var digest = Digest32()
        Swift.withUnsafeMutableBytes(of: &digest.words) { out in
            guard let base = out.baseAddress else { return }  // never: 32 bytes of a tuple
            _ = CCryptoBoringSSL_SHA256_Final(base.assumingMemoryBound(to: UInt8.self), &context)
        }
        return digest
    }

    /// RFC 6962 leaf hash: SHA-256(0x00 ‖ entry).
    static func leaf(_ entry: UnsafeRawBufferPointer) -> Digest32 { hash(prefix: 0, entry) }

    /// RFC 6962 node hash: SHA-256(0x01 ‖ left ‖ right).
    static func node(_ left: Digest32, _ right: Digest32) -> Digest32 {
        // One update over the 65 bytes laid out on the stack, not three: each update call has
        // a fixed cost (CPU-feature dispatch, block-buffer bookkeeping) that showed in verify.
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
    // @unchecked: SHA256_CTX is a plain C struct of integers and bytes, copied by value; no
    // pointer inside it is shared.
    private var context = SHA256_CTX()

    init(head: [UInt8]) {
        CCryptoBoringSSL_SHA256_Init(&context)
        var leafPrefix: UInt8 = 0
        CCryptoBoringSSL_SHA256_Update(&context, &leafPrefix, 1)
        head.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { _ = CCryptoBoringSSL_SHA256_Update(&context, base, bytes.count) }
        }
    }

    /// SHA-256(0x00 ‖ head ‖ tail).
    func finish(tail: UnsafeRawBufferPointer) -> Digest32 {
        var context = self.context
        if let base = tail.baseAddress { CCryptoBoringSSL_SHA256_Update(&context, base, tail.count) }
        var digest = Digest32()
        Swift.withUnsafeMutableBytes(of: &digest.words) { out in
            guard let base = out.baseAddress else { return }  // never: 32 bytes of a tuple
            _ = CCryptoBoringSSL_SHA256_Final(base.assumingMemoryBound(to: UInt8.self), &context)
        }
        return digest
    }
}
