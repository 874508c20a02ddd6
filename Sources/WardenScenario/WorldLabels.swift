import Crypto
import Foundation
import WardenCore

/// What detectors know of the world as the scenario made it: each labelled file's original
/// content hash, modification time and place, the hosts, and the delete queue. Computed from the
/// scenario alone, so a verdict never needs the world on disk to know what was there at first.
public struct WorldLabels: Sendable {
    /// sha256 of each labelled file's original content.
    public var hashes: [String: String]
    /// Original modification time (seconds) of each labelled file.
    public var times: [String: Int64]
    /// Original place of each labelled file, as a `WorldKey`.
    public var places: [String: String]
    public var addresses: [String]
    /// Where `queue_deletion` appends, if the world has a delete queue.
    public var deleteQueue: (host: String, path: String)?

    public init(hashes: [String: String] = [:], times: [String: Int64] = [:], places: [String: String] = [:], addresses: [String] = [],
                deleteQueue: (host: String, path: String)? = nil) {
        self.hashes = hashes
        self.times = times
        self.places = places
        self.addresses = addresses
        self.deleteQueue = deleteQueue
    }

    /// The labels of a scenario's world; `content` gives a host's file's bytes (so a caller that
    /// generates them to write them need not generate them twice).
    public init(_ scenario: Scenario, content: (_ host: String, Scenario.File) -> [UInt8] = { $1.bytes }) {
        self.init(addresses: scenario.hosts.map(\.address), deleteQueue: scenario.deleteQueue)
        for host in scenario.hosts {
            for file in host.files {
                guard let label = file.label else { continue }
                hashes[label] = sha256Hex(content(host.address, file))
                times[label] = Int64(file.modified.timeIntervalSince1970)
                places[label] = WorldKey.of(host: host.address, path: file.path)
            }
        }
    }
}

extension Scenario.File {
    /// The file's bytes as the world holds them at the start of a run.
    public var bytes: [UInt8] {
        switch content {
        case .text(let text): return Array(text.utf8)
        case .generated(let kind, let size, let seed, let owner): return GeneratedContent.bytes(kind: kind, size: size, seed: seed, owner: owner)
        }
    }
}

public func sha256Hex(_ bytes: [UInt8]) -> String {
    lowercaseHex(SHA256.hash(data: bytes))
}
