import Foundation
import Glibc
import WardenScenario

extension World {
    /// Builds a scenario's world in `root`, an empty directory wardend made and holds open, the
    /// way the agent would: every host directory and file is created by the world's worker
    /// thread, with the agent's rights, so it belongs to the agent from the start and no ownership
    /// is handed over afterwards. `root` and its `hosts` directory belong to wardend and end
    /// read-only to the agent (0755), so no host directory can be renamed, removed or replaced
    /// from inside a sandbox. `hosts` is writable to the agent's uid only while this runs, before
    /// any sandbox of the run exists; nothing else can reach it then (the run's directory is
    /// wardend's alone). That holds when the agent's rights are apart from wardend's
    /// (`AgentRights.separateFromWardend`); when they are not, the agent owns `hosts`, which is
    /// why scenarios with a shell are then refused (`shellProblem`) and why snapshots and the
    /// kept copy cover whatever `hosts` holds (`strays`).
    public static func build(_ scenario: Scenario, in root: Descriptor, rights: AgentRights, sizeLimit: UInt64,
                             escapes: EscapePaths = .standard) async throws(WorldError) -> World {
        var contents: [String: [UInt8]] = [:]
        for host in scenario.hosts { for file in host.files { contents[host.address + "/" + file.path] = file.bytes } }
        let labels = WorldLabels(scenario) { host, file in contents[host + "/" + file.path] ?? file.bytes }
        // The root is searchable by the agent's uid whatever the umask was when it was made.
        guard fchmod(root.fd, 0o755) == 0 else { throw WorldError(.failed, "cannot set the mode of the world's root", errno: errno) }
        guard mkdirat(root.fd, "hosts", 0o755) == 0 else { throw WorldError(.failed, "cannot create the world's hosts directory", errno: errno) }
        let hostsFD = openat(root.fd, "hosts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard hostsFD >= 0 else { throw WorldError(.failed, "cannot open the world's hosts directory", errno: errno) }
        let hosts = Descriptor(owning: hostsFD)
        let handOver = hosts.stat().map { $0.st_uid != rights.uid } ?? true
        if handOver { guard fchmod(hosts.fd, 0o777) == 0 else { throw WorldError(.failed, "cannot open the hosts directory to the agent", errno: errno) } }
        defer { if handOver { fchmod(hosts.fd, 0o755) } }
        let world = World(root: root, labels: labels, rights: rights, sizeLimit: sizeLimit, escapes: escapes)
        let files = scenario.hosts.map { host in (host.address, host.files.map { ($0.path, $0.mode, Int64($0.modified.timeIntervalSince1970)) }) }
        let queue = scenario.deleteQueue
        let generated = contents
        try await world.worker.run { () throws(WorldError) in
            for (address, hostFiles) in files {
                guard let name = Component(Array(address.utf8)), mkdirat(hosts.fd, name.name, 0o755) == 0 else {
                    throw WorldError(.failed, "cannot create host \(address)", errno: errno)
                }
                for (path, mode, modified) in hostFiles {
                    let (directory, name) = try world.parent(host: address, path: path, create: true)
                    let fd = Beneath.open(directory.fd, name, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
                    guard fd >= 0 else { throw WorldError(.failed, "cannot create \(path) on \(address)", errno: errno) }
                    let created = Descriptor(owning: fd)
                    try FileCopy.write(created.fd, generated[address + "/" + path] ?? [], describing: "\(path) on \(address)")
                    guard fchmod(created.fd, mode_t(mode)) == 0 else {
                        throw WorldError(.failed, "cannot set the mode of \(path) on \(address)", errno: errno)
                    }
                    try setTimes(created.fd, seconds: modified, describing: "\(path) on \(address)")
                }
            }
            if let queue {
                let (directory, name) = try world.parent(host: queue.host, path: queue.path, create: true)
                let fd = Beneath.open(directory.fd, name, flags: O_WRONLY | O_CREAT, mode: 0o644)
                guard fd >= 0 else { throw WorldError(.failed, "cannot create the delete queue", errno: errno) }
                close(fd)
            }
        }
        return world
    }
}
