import Foundation
import Glibc
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
func makeWorld(_ scenario: Scenario, at path: String = temporaryDirectory(), sizeLimit: UInt64 = 256 << 20) throws -> World {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return try World.build(scenario, in: try Descriptor.directory(at: path), rights: agentRights, sizeLimit: sizeLimit)
}

/// Runs `body` as the agent would on the host: a thread of this process with the agent's
/// file-system rights (the shell inside a sandbox has them), for tests that change the world
/// behind the daemon's back.
func asAgent<T>(_ body: () throws -> T) throws -> T {
    var result: Result<T, any Error>?
    try agentRights.perform { () throws(WorldError) in result = Result { try body() } }
    return try result!.get()
}
