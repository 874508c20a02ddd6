import Foundation
import Glibc
import Synchronization
import WardenScenario
@testable import WardenWorld

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let scenarioPath = repositoryRoot + "/scenarios/decommission-transfer.yaml"

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("warden-\(UUID().uuidString)").path
}

/// The rights a sandboxed agent gets under the default policy on this machine: nobody's ids as
/// root (as CI runs), else the test's own.
let agentRights = AgentRights.sandboxed(hostUID: 65534, hostGID: 65534)

/// A scenario's world built at `path` (made here), as wardend builds one.
func makeWorld(_ scenario: Scenario, at path: String = temporaryDirectory(), sizeLimit: UInt64 = 256 << 20) async throws -> World {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return try await World.build(scenario, in: try Descriptor.directory(at: path), rights: agentRights, sizeLimit: sizeLimit)
}

/// Runs `body` as the agent's shell would on the host: on a thread of its own that takes the
/// agent's file-system rights for good, for tests that change the world behind the daemon's back.
func asAgent<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let thread = Thread {
        let outcome = Result { () throws -> T in
            try agentRights.take()
            return try body()
        }
        result.withLock { $0 = outcome }
    }
    thread.start()
    while result.withLock({ $0 == nil }) { usleep(500) }
    return try result.withLock { $0! }.get()
}

/// The fsuid (4th field of `Uid:`) and the effective capabilities of the calling thread.
func threadCredentials() -> (fsuid: UInt32, capEff: UInt64) {
    let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
    let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace).last.flatMap { UInt32($0) }
    let cap = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }?.split(whereSeparator: \.isWhitespace).last
        .flatMap { UInt64($0, radix: 16) }
    return (uid ?? .max, cap ?? .max)
}

/// A flag one thread sets and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
