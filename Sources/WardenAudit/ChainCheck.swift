/// Where a walk over the log stands: the chain's last hash, the Merkle tree so far, the next
/// checkpoint due, and the first problem found. `AuditVerifier.verify` feeds it the rows.
struct ChainCheck {
    let checkpoints: [AuditCheckpoint]
    /// The key of each checkpoint (nil: none was given to check them with).
    let keys: KeyTimeline?
    /// Stop (without a problem) once this many events are checked: the first half of a
    /// parallel check.
    let stopAtCount: Int64?

    private(set) var count: Int64 = 0
    private(set) var nextCheckpoint = 0
    private(set) var failure: AuditVerification?
    var hasher = PairedSHA256()
    private var last = Digest32(AuditChain.hexBytes(AuditChain.genesis))
    private var checked: Int64 = 0
    private var frontier = Merkle.Frontier()

    init(checkpoints: [AuditCheckpoint], keys: KeyTimeline?, stopAtCount: Int64?) {
        self.checkpoints = checkpoints
        self.keys = keys
        self.stopAtCount = stopAtCount
    }

    /// Continues after a checkpoint whose signature and frontier were checked.
    mutating func resume(at checkpoint: AuditCheckpoint, frontier: Merkle.Frontier) {
        self.frontier = frontier
        last = Digest32(AuditChain.hexBytes(checkpoint.chainHead))
        count = checkpoint.eventCount
        checked = 1
        nextCheckpoint = Int(checkpoint.number)
    }

    /// The sequence number the next row must have.
    var expectedSeq: Int64 { count + 1 }

    func bad(_ seq: Int64?, checkpoint: Int64? = nil, _ problem: String) -> AuditVerification {
        AuditVerification(ok: false, events: count, lastHash: last.hex, checkpoints: checked, firstBadSeq: seq,
                          firstBadCheckpoint: checkpoint, problem: problem)
    }

    var passed: AuditVerification {
        AuditVerification(ok: true, events: count, lastHash: last.hex, checkpoints: checked, firstBadSeq: nil, problem: nil)
    }

    /// Whether a row comes next in sequence and links to the chain so far. False: a problem.
    mutating func admit(_ row: RawEvent) -> Bool {
        if row.seq != expectedSeq {
            failure = bad(expectedSeq, row.seq > expectedSeq
                ? "event \(expectedSeq) is missing (removed); the next stored event is \(row.seq)"
                : "event \(row.seq) is out of order")
            return false
        }
        if !last.matches(hex: row.prevHash) {
            failure = bad(row.seq, "event \(row.seq) does not link to event \(row.seq - 1) (inserted, reordered or altered prev_hash)")
            return false
        }
        return true
    }

    /// Checks an admitted event against its stored hash, adds it to the tree and checks the
    /// checkpoints it completes. False: stop (a problem, or `stopAtCount` reached).
    mutating func settle(_ event: PendingEvent) -> Bool {
        // The hash covers the stored bytes: a payload altered in any way, or rewritten in
        // another (non-canonical) form, no longer matches.
        let hash = hasher.link(last, event.leaf)
        if !event.storedHash.spells(hash) {
            failure = bad(event.seq, "event \(event.seq) does not match its hash (altered or inserted)")
            return false
        }
        last = hash
        count += 1
        frontier.append(event.leaf, hasher: &hasher)
        if nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].eventCount <= count {
            let head = last.hex
            while nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].eventCount == count {
                let checkpoint = checkpoints[nextCheckpoint]
                if let problem = AuditVerifier.problem(with: checkpoint, root: frontier.root.hex, head: head,
                                                         key: keys?.key(forCount: checkpoint.eventCount)) {
                    failure = bad(nil, checkpoint: checkpoint.number, problem)
                    return false
                }
                checked += 1
                nextCheckpoint += 1
            }
            if nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].eventCount < count {
                let checkpoint = checkpoints[nextCheckpoint]
                failure = bad(nil, checkpoint: checkpoint.number,
                              "checkpoint \(checkpoint.number) covers \(checkpoint.eventCount) events, fewer than the one before it (reordered or altered)")
                return false
            }
        }
        if let stopAtCount, count >= stopAtCount { return false }
        return true
    }
}

/// An event admitted and hashed but not yet checked against its stored hash.
struct PendingEvent {
    var seq: Int64
    var leaf: Digest32
    var storedHash: StoredHash
}

/// A stored hash's hex digits, copied out of the row (SQLite reuses those bytes on its next step).
struct StoredHash {
    private var digits: (Digest32, Digest32) = (Digest32(), Digest32())
    private let complete: Bool

    init(_ hex: UnsafeBufferPointer<UInt8>) {
        complete = hex.count == 64
        guard complete else { return }
        withUnsafeMutableBytes(of: &digits) { $0.copyMemory(from: UnsafeRawBufferPointer(hex)) }
    }

    /// Whether these are the 64 lower-case hex digits of `digest`.
    func spells(_ digest: Digest32) -> Bool {
        complete && withUnsafeBytes(of: digits) { digest.matches(hex: $0.assumingMemoryBound(to: UInt8.self)) }
    }
}
