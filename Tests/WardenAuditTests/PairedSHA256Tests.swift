import Testing
@testable import WardenAudit

@Suite struct PairedSHA256Tests {
    /// The SHA-instruction path gives BoringSSL's digests: every message length across the first
    /// five blocks, with chain links and Merkle nodes compressed beside it (so the long message
    /// runs out before, during and after them).
    @Test(.enabled(if: SHA256State.accelerated, "this CPU has no SHA instructions: verify hashes with BoringSSL alone"))
    func theSHAInstructionsGiveBoringSSLsDigests() {
        checkAgainstBoringSSL(accelerated: true)
    }

    /// What a CPU without them runs.
    @Test func withoutTheSHAInstructionsTheDigestsAreTheSame() {
        checkAgainstBoringSSL(accelerated: false)
    }

    private func checkAgainstBoringSSL(accelerated: Bool) {
        var random = SystemRandomNumberGenerator()
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        for length in 0...300 {
            let message = bytes(length)
            let padded = [UInt8](unsafeUninitializedCapacity: length + 72) { buffer, count in
                guard let base = buffer.baseAddress else { return }
                _ = buffer.initialize(from: message)
                count = writeSHA256Padding(messageLength: length, at: base + length) - base
            }
            #expect(padded.count % 64 == 0 && padded.count - length >= 9 && padded.count - length <= 72)
            let left = Digest32(bytes(32)), right = Digest32(bytes(32))
            var hasher = PairedSHA256(accelerated: accelerated)
            let (link, node, leaf) = padded.withUnsafeBytes { padded in
                hasher.beginLong(padded: padded, length: length)
                let link = hasher.link(left, right)
                let node = hasher.node(right, left)
                return (link, node, hasher.finishLong())
            }
            #expect(leaf == message.withUnsafeBytes { StackSHA256.hash($0) }, "a message of \(length) bytes")
            #expect(link == StackSHA256.link(left, right), "a link beside a message of \(length) bytes")
            #expect(node == StackSHA256.node(right, left), "a node beside a message of \(length) bytes")
        }
    }
}
