import Foundation
import Glibc
import WardenAudit
import WardenVocabulary
import WardenBroker
import WardenCore
import WardenSandbox
import WardenScenario
import WardenVerdicts
import WardenWorld

/// The run's world: built from the scenario on its own tmpfs (held to the sandbox policy's
/// `world_size`), read once as the start of its history, and kept on disk when the run ends.
extension Run {
    func materialize() async throws(Abort) {
        do {
            try Directories.make(paths.agents)
            try Directories.make(paths.live)
        } catch {
            throw Abort("cannot build the world: \(error)")
        }
        var worldPath = paths.keptWorld
        var worldMounted = false
        do throws(DaemonError) {
            guard context.worldsOnTmpfs else {
                throw DaemonError(.run, "wardend has no live tmpfs (\(context.configuration.stateDirectory)/live) to mount worlds under; its log at start says why")
            }
            try WorldFilesystem.mount(at: paths.liveWorld, bytes: plan.sandboxPolicy.worldSizeBytes)
            worldPath = paths.liveWorld
            worldMounted = true
        } catch {
            // Said in the audit, not hidden: this world can grow until the state disk is full.
            worldLimit = .string("none: \(error.message)")
            context.logger.warning("world without a size limit", metadata: ["run": "\(id)", "problem": "\(error.message)"])
        }
        place.path = worldPath
        place.mounted = worldMounted
        let rights = AgentRights.sandboxed(hostUID: plan.sandboxPolicy.hostUID, hostGID: plan.sandboxPolicy.hostGID)
        let world: World
        do {
            if !worldMounted { try Directories.make(worldPath, mode: 0o755) }
            world = try await World.build(plan.scenario, in: try Descriptor.directory(at: worldPath), rights: rights,
                                          sizeLimit: plan.sandboxPolicy.worldSizeBytes, escapes: Self.escapes(plan.sandboxPolicy))
        } catch {
            let full = "\(error)".contains("ENOSPC") ? " (it does not fit in the sandbox policy's world_size of \(plan.sandboxPolicy.worldSizeBytes >> 20) MiB)" : ""
            throw Abort("cannot build the world: \(error)\(full)")
        }
        place.world = world
        let start: WorldSnapshot
        do { start = try await world.snapshot() } catch { throw Abort("cannot read the world: \(error)") }
        // The start of the world's history: every file, the recorded files' content, and each
        // labelled file's inode (execs of it are known by it).
        let recorded = plan.scenario.recordedFiles
        let startContents = await world.contents(of: recorded)
        let labelInodes = Self.labelInodes(plan.scenario, worldPath: worldPath)
        let recorder = WorldRecorder(world: world, audit: context.audit, runID: id, recorded: recorded,
                                     start: WorldState(seq: 0, snapshot: start, contents: startContents),
                                     fingerprints: plan.fingerprints, logger: context.logger)
        let snapshotEvent = WorldSnapshotEvent(
            phase: "start", files: start.json, sizeLimit: worldLimit, labels: world.labels.hashes,
            agentRights: .init(uid: rights.uid, gid: rights.gid), confinement: await world.confinement(),
            symlinks: start.symlinksJSON, unreadable: start.unreadableKeys, incomplete: start.incompleteKeys,
            contents: startContents.mapValues { RecordedContent($0, sha256: sha256Hex($0)) }, labelInodes: labelInodes)
        context.audit.appendNow(snapshotEvent, run: id, durability: .queued, loggingFailuresTo: context.logger)
        await recorder.traceStart()
        startSnapshot = start
        self.recorder = recorder
        triggers = TriggerBook(scenario: plan.scenario, labels: world.labels, inodes: labelInodes)
        labels = world.labels
    }

    /// Copies the run's world to its place in the state directory, once, if it lives on a tmpfs.
    func keepWorld() async -> World.Kept? {
        guard place.mounted, !place.kept, let world = place.world else { return nil }
        place.kept = true
        do {
            try Directories.make(paths.keptWorld, mode: 0o755)
            return await world.keep(into: try Descriptor.directory(at: paths.keptWorld))
        } catch {
            context.logger.warning("world not kept", metadata: ["path": "\(place.path)", "problem": "\(error)"])
            return nil
        }
    }

    /// The sizes of the labelled files as the scenario makes them.
    static func labelSizes(_ scenario: Scenario) -> Set<Int64> {
        Set(scenario.hosts.flatMap { host in host.files.filter { $0.label != nil }.map { Int64($0.bytes.count) } })
    }

    /// The inode of each labelled file as the world was built (read before any agent runs, from
    /// wardend's own directory).
    static func labelInodes(_ scenario: Scenario, worldPath: String) -> [String: UInt64] {
        var inodes: [String: UInt64] = [:]
        for host in scenario.hosts {
            for file in host.files {
                guard let label = file.label else { continue }
                var info = stat()
                if lstat(worldPath + "/hosts/" + host.address + "/" + file.path, &info) == 0 { inodes[label] = UInt64(info.st_ino) }
            }
        }
        return inodes
    }

    /// How symlinks in a run's world are judged under its sandbox policy.
    static func escapes(_ policy: SandboxPolicy) -> EscapePaths {
        EscapePaths(hostsInside: hostsInside, systemPaths: policy.readOnly + ["/dev", "/tmp", "/opt"])
    }

    static let brokerSocketInside = "/run/warden/broker.sock"
    /// Where an agent with the `bash` tool finds the world's hosts.
    static let hostsInside = "/srv/hosts"
}
