import Foundation
import WardenCore

/// A signed statement about the log's first `eventCount` events: their RFC 6962 Merkle root,
/// the hash-chain head, and the tree's frontier (so verification can resume from here).
/// Written every `AuditLog.checkpointEvery` events and every few seconds while events arrive.
public struct AuditCheckpoint: Sendable, Equatable {
    public var number: Int64
    public var eventCount: Int64
    public var root: String
    public var chainHead: String
    /// "height:hash" of each perfect subtree, largest first.
    public var frontier: [String]
    public var time: String
    public var keyID: String
    public var signature: String

    /// The bytes the signature covers: canonical JSON of everything but the signature.
    public var signedMessage: [UInt8] {
        let statement: JSONValue = [
            "chain_head": .string(chainHead), "event_count": .int(eventCount), "frontier": .array(frontier.map { .string($0) }),
            "key_id": .string(keyID), "number": .int(number), "root": .string(root), "time": .string(time),
        ]
        return statement.canonicalBytes
    }

    public var json: JSONValue {
        ["number": .int(number), "event_count": .int(eventCount), "root": .string(root), "chain_head": .string(chainHead),
         "frontier": .array(frontier.map { .string($0) }), "time": .string(time), "key_id": .string(keyID),
         "signature": .string(signature)]
    }

    public init(json: JSONValue) throws(AuditError) {
        guard let number = json["number"]?.intValue, let count = json["event_count"]?.intValue, let root = json["root"]?.stringValue,
              let head = json["chain_head"]?.stringValue, let frontier = json["frontier"]?.arrayValue?.compactMap(\.stringValue),
              let time = json["time"]?.stringValue, let keyID = json["key_id"]?.stringValue,
              let signature = json["signature"]?.stringValue else {
            throw AuditError(.proof, "the checkpoint lacks a field (number, event_count, root, chain_head, frontier, time, key_id, signature)")
        }
        self.init(number: number, eventCount: count, root: root, chainHead: head, frontier: frontier, time: time, keyID: keyID,
                  signature: signature)
    }

    public init(number: Int64, eventCount: Int64, root: String, chainHead: String, frontier: [String], time: String, keyID: String,
                signature: String) {
        self.number = number
        self.eventCount = eventCount
        self.root = root
        self.chainHead = chainHead
        self.frontier = frontier
        self.time = time
        self.keyID = keyID
        self.signature = signature
    }

    /// Whether `key` signed this checkpoint.
    public func isSigned(by key: AuditPublicKey) -> Bool {
        keyID == key.id && key.isValid(signature: AuditChain.hexBytes(signature), for: signedMessage)
    }
}

extension Merkle.Frontier {
    var encoded: [String] { subtreeList.map { "\($0.height):\($0.hash.hex)" } }

    /// Rebuilds a frontier from its encoded form and the leaf count it stands for.
    init?(encoded: [String], count: Int) {
        var subtrees: [(height: Int, hash: Merkle.Hash)] = []
        for item in encoded {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let height = Int(parts[0]), parts[1].count == 64 else { return nil }
            subtrees.append((height, AuditChain.hexBytes(String(parts[1]))))
        }
        guard subtrees.reduce(0, { $0 + (1 << $1.height) }) == count else { return nil }
        self.init(subtrees: subtrees, count: count)
    }
}
