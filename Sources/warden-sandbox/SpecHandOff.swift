import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// The daemon starts launchers before it needs them. A standby launcher gets a template first
/// (the sandbox policy's part of a spec) and builds what it can from it; then it waits for its
/// one job: the run's spec, with the agent's stdout, stderr, broker socket and — for the `bash`
/// tool — command channel attached as SCM_RIGHTS. The same socket carries the status back.
enum SpecHandOff {
    /// Runs the JSON coding paths once while standing by: the first use of a Codable type in a
    /// process is slower than the next (metadata, caches), and this one is on
    /// the path from spawn request to the agent's start. Forked children inherit the warm state.
    static func warmUp() {
        let spec = SandboxSpec(command: ["/bin/true"], environment: ["PATH": "/usr/bin"], hostname: "warden", systemBinds: ["/usr"],
                               binds: [.init(source: "/usr", target: "/usr")], tmpSizeBytes: 1, uid: 1, gid: 1, hostUID: 1, hostGID: 1,
                               rlimits: ["nofile": 1], seccompFilters: [Data(repeating: 0, count: 64).base64EncodedString()],
                               keepBrokerFD: true)
        if let data = try? JSONEncoder().encode(spec), let decoded = try? JSONDecoder().decode(SandboxSpec.self, from: data) {
            _ = decoded.seccompFilters.compactMap { Data(base64Encoded: $0) }
        }
        let report = SandboxReport(namespaces: ["user"], pivotRoot: true, readOnlyRoot: true, systemBinds: ["/usr"], binds: [],
                                   tmpSizeBytes: 1, uid: 1, hostUID: 1, capabilities: "none", noNewPrivs: true, seccompFilters: 1,
                                   seccompInstructions: 1, rlimits: ["nofile": 1], loopback: true, notApplied: [], launcherPID: 1)
        _ = try? JSONEncoder().encode(report)
    }

    /// Die with the daemon, standing by or not: a crashed wardend leaves no launcher behind.
    static func dieWithTheDaemon() {
        _ = warden_set_pdeathsig(SIGKILL)
        if getppid() == 1 { exit(125) }
    }

    /// The first message: a template (the sandbox policy's part of a spec) to prepare from.
    static func receiveTemplate(controlFD: Int32) -> SandboxSpec {
        dieWithTheDaemon()
        warmUp()
        var buffer = messageBuffer(1 << 20)
        let n = buffer.withUnsafeMutableBytes { recv(controlFD, $0.baseAddress, $0.count, 0) }
        if n == 0 { exit(0) }  // the daemon stood us down
        guard n > 0 else { die("cannot read the template on fd \(controlFD): \(String(cString: strerror(errno)))") }
        do { return try JSONDecoder().decode(SandboxSpec.self, from: Data(buffer[0..<n])) } catch {
            die("invalid template on fd \(controlFD): \(error)")
        }
    }

    /// The launcher's part of the second message: pass the run's spec and its fds to pid 1 as
    /// they came. False when the daemon stood the launcher down instead.
    static func forward(from control: Int32, to handOff: Int32) -> Bool {
        var buffer = messageBuffer(1 << 20)
        var fds = [Int32](repeating: -1, count: 4)
        var count: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer { warden_recv_with_fds(control, raw.baseAddress, raw.count, $0.baseAddress, 4, &count) }
        }
        defer { fds.prefix(Int(count)).forEach { close($0) } }
        guard n > 0 else { return false }
        let sent = buffer.withUnsafeBytes { raw in
            fds.withUnsafeBufferPointer { warden_send_with_fds(handOff, raw.baseAddress, n, $0.baseAddress, count) }
        }
        return sent == n
    }

    /// pid 1's part: the run's spec, checked against the template it was prepared from, with
    /// the agent's stdout, stderr, broker socket and command channel put in place.
    static func receiveRun(from handOff: Int32, template: SandboxSpec) throws(LaunchFailure) -> SandboxSpec {
        var buffer = messageBuffer(1 << 20)
        var fds = [Int32](repeating: -1, count: 4)
        var count: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer { warden_recv_with_fds(handOff, raw.baseAddress, raw.count, $0.baseAddress, 4, &count) }
        }
        guard n > 0 else { exit(0) }  // stood down
        let spec: SandboxSpec
        do { spec = try JSONDecoder().decode(SandboxSpec.self, from: Data(buffer[0..<n])) } catch {
            throw LaunchFailure(step: "invalid spec: \(error)", errno: 0)
        }
        guard spec.preparation == template.preparation else {
            throw LaunchFailure(step: "\(SandboxSpec.standbyMismatch): the standby launcher was prepared for another sandbox policy", errno: 0)
        }
        let expected = spec.shell ? 4 : 3
        guard Int(count) == expected else { throw LaunchFailure(step: "the spec came with \(count) fds, not \(expected)", errno: EINVAL) }
        // Move them out of the way first: a received fd may sit on a target number.
        let high = fds.prefix(Int(count)).map { fd -> Int32 in
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 100)
            close(fd)
            return moved
        }
        let targets: [Int32] = [1, 2, Launcher.brokerFD, Launcher.shellFD]
        for (fd, target) in zip(high, targets) {
            guard fd >= 0, dup2(fd, target) == target else { throw LaunchFailure(step: "place the received fds", errno: errno) }
            close(fd)
        }
        return spec
    }
}

/// A receive buffer left uninitialised: only the bytes a message fills are ever read, so no
/// launch zeroes (and faults in) a megabyte it never reads.
func messageBuffer(_ size: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: size) { _, count in count = size }
}
