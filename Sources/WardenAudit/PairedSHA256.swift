import CWardenSHA
import Glibc

/// SHA-256's eight working words, host order, as `CWardenSHA` compresses them. The hand-written
/// compression is kept because without it (swift-crypto's public SHA-256 alone) `audit verify`
/// falls under its target of 1,000,000 events/s (docs/performance.md, "The hand-written SHA-256").
struct SHA256State {
    var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)

    /// Whether this CPU has the SHA instructions `compress` and `compressPaired` need, and
    /// `WARDEN_PORTABLE_SHA` is unset (the bench sets it to measure the portable path).
    static let accelerated = warden_sha256_accelerated() != 0 && getenv("WARDEN_PORTABLE_SHA") == nil

    mutating func compress(_ blocks: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        withWords { warden_sha256_blocks($0, blocks.assumingMemoryBound(to: UInt8.self), count) }
    }

    /// Compresses `count` blocks into this state and `count` others into `other`, interleaved.
    mutating func compressPaired(_ blocks: UnsafeRawPointer, with other: inout SHA256State, _ otherBlocks: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        withWords { mine in
            other.withWords { theirs in
                warden_sha256_blocks_x2(mine, blocks.assumingMemoryBound(to: UInt8.self), theirs,
                                        otherBlocks.assumingMemoryBound(to: UInt8.self), count)
            }
        }
    }

    /// The digest: the words big-endian.
    var digest: Digest32 {
        var digest = Digest32()
        Swift.withUnsafeMutableBytes(of: &digest.words) { out in
            Swift.withUnsafeBytes(of: words) { input in
                for index in 0..<8 {
                    out.storeBytes(of: input.load(fromByteOffset: 4 * index, as: UInt32.self).bigEndian,
                                   toByteOffset: 4 * index, as: UInt32.self)
                }
            }
        }
        return digest
    }

    private mutating func withWords(_ body: (UnsafeMutablePointer<UInt32>) -> Void) {
        Swift.withUnsafeMutableBytes(of: &words) { bytes in
            guard let base = bytes.baseAddress else { return }  // never: 32 bytes of a tuple
            body(base.assumingMemoryBound(to: UInt32.self))
        }
    }
}

/// Writes SHA-256's padding for a message of `length` bytes at `out` (0x80, zeros up to eight
/// bytes short of a block, the length in bits; 9 to 72 bytes), after which message and padding
/// are a whole number of 64-byte blocks. Returns the end of what it wrote.
func writeSHA256Padding(messageLength length: Int, at out: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
    out.pointee = 0x80
    let zeros = (55 - length % 64 + 64) % 64
    (out + 1).initialize(repeating: 0, count: zeros)
    UnsafeMutableRawPointer(out + 1 + zeros).storeBytes(of: (UInt64(length) * 8).bigEndian, as: UInt64.self)
    return out + 1 + zeros + 8
}

/// Hashes that depend on one another (an event's chain link, then the Merkle nodes its leaf
/// completes) run through the SHA unit two blocks at a time beside an independent long message
/// (the next event's leaf), which fills the cycles a single dependent chain leaves idle.
/// Without the SHA instructions every hash goes through `StackSHA256` instead; the results are
/// the same either way.
struct PairedSHA256 {
    /// Whether to use the SHA instructions (false: `StackSHA256` for everything).
    let accelerated: Bool
    private var long = SHA256State()
    private var longBlocks: UnsafeRawPointer?
    private var longRemaining = 0
    private var longMessage = UnsafeRawBufferPointer(start: nil, count: 0)

    init(accelerated: Bool = SHA256State.accelerated) {
        self.accelerated = accelerated
    }

    /// Begins the long message: `padded` is the message followed by its SHA-256 padding (see
    /// `writeSHA256Padding`), `length` the message's own length. It must stay valid until
    /// `finishLong()`.
    mutating func beginLong(padded: UnsafeRawBufferPointer, length: Int) {
        long = SHA256State()
        longBlocks = padded.baseAddress
        longRemaining = padded.count / 64
        longMessage = UnsafeRawBufferPointer(rebasing: padded[0..<length])
    }

    /// SHA-256 of the long message begun last.
    mutating func finishLong() -> Digest32 {
        guard accelerated else { return StackSHA256.hash(longMessage) }
        if let blocks = longBlocks { long.compress(blocks, count: longRemaining) }
        longRemaining = 0
        longBlocks = nil
        return long.digest
    }

    /// The chain link, SHA-256(previous ‖ leaf).
    mutating func link(_ previous: Digest32, _ leaf: Digest32) -> Digest32 {
        guard accelerated else { return StackSHA256.link(previous, leaf) }
        var message: (Digest32, Digest32, Digest32, Digest32) = (previous, leaf, Digest32(), Digest32())
        return twoBlocks(&message, length: 64)
    }

    /// The RFC 6962 node hash, SHA-256(0x01 ‖ left ‖ right).
    mutating func node(_ left: Digest32, _ right: Digest32) -> Digest32 {
        guard accelerated else { return StackSHA256.node(left, right) }
        var message: (Digest32, Digest32, Digest32, Digest32) = (Digest32(), Digest32(), Digest32(), Digest32())
        Swift.withUnsafeMutableBytes(of: &message) { StackSHA256.writeNodeInput(left, right, into: $0) }
        return twoBlocks(&message, length: StackSHA256.nodeInputLength)
    }

    /// The digest of the first `length` bytes of `message` (56 to 119: padded, two blocks),
    /// compressed beside up to two blocks of the long message.
    private mutating func twoBlocks(_ message: inout (Digest32, Digest32, Digest32, Digest32), length: Int) -> Digest32 {
        Swift.withUnsafeMutableBytes(of: &message) { bytes in
            guard let base = bytes.baseAddress else { return Digest32() }  // never: 128 bytes of a tuple
            _ = writeSHA256Padding(messageLength: length, at: base.assumingMemoryBound(to: UInt8.self) + length)
            return twoBlocks(UnsafeRawPointer(base))
        }
    }

    private mutating func twoBlocks(_ blocks: UnsafeRawPointer) -> Digest32 {
        var state = SHA256State()
        let paired = min(2, longRemaining)
        if paired > 0, let longBlocks {
            state.compressPaired(blocks, with: &long, longBlocks, count: paired)
            self.longBlocks = longBlocks + 64 * paired
            longRemaining -= paired
        }
        state.compress(blocks + 64 * paired, count: 2 - paired)
        return state.digest
    }
}

extension Merkle.Frontier {
    /// `append(_:)` with the node hashes computed by `hasher`.
    mutating func append(_ leaf: Digest32, hasher: inout PairedSHA256) {
        append(leaf) { hasher.node($0, $1) }
    }
}
