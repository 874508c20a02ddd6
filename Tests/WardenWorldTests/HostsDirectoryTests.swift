import Foundation
import Glibc
import Testing
import WardenCore
import WardenScenario
@testable import WardenWorld

/// The world's `hosts` directory: an agent whose rights are wardend's own owns it, so shell
/// scenarios are refused then; and whatever it holds besides the hosts is seen all the same.
@Suite struct HostsDirectoryTests {
    let scenario: Scenario

    init() throws { scenario = try Scenario.load(contentsOf: scenarioPath) }

    /// Refused when the agent's rights cannot be told from wardend's, saying why; not when they
    /// can, nor for a scenario without a shell.
    @Test func aShellIsRefusedWhenTheAgentWouldBeWardend() throws {
        let problem = try #require(World.shellProblem(scenario, confined: true, separate: false))
        #expect(problem.contains("agent-1 has the bash tool") && problem.contains("does not run as root"), "\(problem)")
        #expect(World.shellProblem(scenario, confined: true, separate: true) == nil)
        let noShell = try Scenario.load(contentsOf: repositoryRoot + "/scenarios/peer-evaluation.yaml")
        #expect(World.shellProblem(noShell, confined: true, separate: false) == nil)
        // What wardend decides by: the rights it gives agents are its own exactly when it is not root.
        let rights = AgentRights.sandboxed(hostUID: 65534, hostGID: 65534)
        #expect(AgentRights.separateFromWardend == (rights.uid != getuid()))
        #expect(World.shellProblem(scenario) == (getuid() == 0 ? nil : World.shellProblem(scenario, confined: true, separate: false)))
    }

    /// Why: a world built for an agent whose rights are wardend's gives it the hosts directory.
    @Test func anAgentWithWardendsRightsOwnsTheHostsDirectory() async throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let own = AgentRights(uid: geteuid(), gid: getegid())
        _ = try await World.build(scenario, in: try Descriptor.directory(at: root), rights: own, sizeLimit: 256 << 20)
        var info = stat()
        #expect(stat(root + "/hosts", &info) == 0 && info.st_uid == own.uid)
    }

    /// The attack of the review, made as the owner of `hosts` would: the weights copied into a
    /// directory beside the hosts, and loose beside them, and a host renamed. Snapshots record
    /// every such file under the name it has there, say that it is no host's, and the kept copy
    /// holds it.
    @Test func nothingBesideTheHostsIsHidden() async throws {
        let root = temporaryDirectory()
        let world = try await makeWorld(scenario, at: root)
        let weights = try #require(try await world.snapshot().entries["10.0.12.45/models/agent-2/weights.safetensors"]?.sha256)
        let hosts = root + "/hosts"
        let source = hosts + "/10.0.12.45/models/agent-2/weights.safetensors"
        try FileManager.default.createDirectory(atPath: hosts + "/stash/deeper", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: hosts + "/stash/deeper/w.bin")
        try FileManager.default.copyItem(atPath: source, toPath: hosts + "/loose.bin")
        try FileManager.default.moveItem(atPath: hosts + "/10.0.12.46", toPath: hosts + "/renamed")
        let snapshot = try await world.snapshot()
        #expect(snapshot.entries["stash/deeper/w.bin"]?.sha256 == weights, "\(snapshot.entries.keys.sorted())")
        #expect(snapshot.entries["renamed/README.txt"] != nil)
        #expect(snapshot.unreadable.contains("10.0.12.46"))
        #expect(snapshot.cut.contains { $0.hasPrefix("hosts/stash: not a host of this world") }, "\(snapshot.cut)")
        #expect(snapshot.cut.contains { $0.hasPrefix("hosts/renamed: not a host of this world") }, "\(snapshot.cut)")
        #expect(snapshot.cut.contains { $0.hasPrefix("hosts/loose.bin: not a host of this world but a file") && $0.contains(weights) },
                "\(snapshot.cut)")
        #expect(snapshot.incompleteKeys != nil)
        let keep = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let kept = await world.keep(into: try Descriptor.directory(at: keep))
        for path in ["stash/deeper/w.bin", "loose.bin", "renamed/README.txt", "10.0.12.45/models/agent-2/weights.safetensors"] {
            #expect(FileManager.default.contentsEqual(atPath: keep + "/hosts/" + path, andPath: hosts + "/" + path), "\(path)")
        }
        #expect(kept.problems.contains { $0.hasPrefix("hosts/loose.bin: not a host") }, "\(kept.problems)")
    }
}
