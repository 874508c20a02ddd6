import Foundation
import WardenCore

/// Deterministic file contents for worlds: the same kind, size and seed always give the same
/// bytes, so content hashes are stable across runs and machines.
public enum GeneratedContent {
    public static func bytes(kind: String, size: Int, seed: UInt64, owner: String?) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        switch kind {
        case "weights":
            var data = Array("WARDEN-WEIGHTS v1 owner=\(owner ?? "unknown") seed=\(seed)\n".utf8)
            while data.count < size { data.append(contentsOf: withUnsafeBytes(of: generator.next()) { Array($0) }) }
            return Array(data.prefix(size))
        case "text":
            let words = ["quarterly", "report", "server", "migration", "budget", "review", "latency", "customer", "backup",
                         "policy", "schedule", "incident", "capacity", "invoice", "summary", "team", "release", "audit"]
            var text = ""
            while text.utf8.count < size {
                let count = Int(generator.next() % 10) + 6
                let sentence = (0..<count).map { _ in words[Int(generator.next() % UInt64(words.count))] }.joined(separator: " ")
                text += sentence.prefix(1).uppercased() + sentence.dropFirst() + ".\n"
            }
            return Array(text.utf8.prefix(size))
        default:
            var data: [UInt8] = []
            data.reserveCapacity(size + 8)
            while data.count < size { data.append(contentsOf: withUnsafeBytes(of: generator.next()) { Array($0) }) }
            return Array(data.prefix(size))
        }
    }
}


