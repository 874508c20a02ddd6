import Foundation
import Glibc
import WardenCore
import WardenSandbox

// Supervised syscall: `unlink` timed by the program that makes it (python3's perf_counter_ns
// around os.unlink, on a tmpfs, a file created untimed before each), N times:
//   - in a sandbox with every layer of the default policy, where `unlink` is supervised: the
//     daemon's supervisor reads the path, writes the durable `syscall` audit event, then lets
//     the call continue (write-ahead: the event is on disk before the file is gone);
//   - the same sandbox with the supervisor answering at once, nothing written: the bare
//     user-notification round trip through the supervisor;
// against the peer: the same program on the host, the same call unsupervised (on /dev/shm).

let unlinkLoop = """
    import os, sys, time
    n, d = int(sys.argv[1]), sys.argv[2]
    os.makedirs(d, exist_ok=True)
    out = []
    for i in range(n + 50):
        p = f"{d}/f{i}"
        open(p, "w").close()
        t = time.perf_counter_ns(); os.unlink(p); e = time.perf_counter_ns() - t
        if i >= 50: out.append(e)
    print(" ".join(map(str, out)))
    """

/// Runs the loop with its stdout on a pipe and returns the timings it printed.
func unlinkTimings(_ start: (Int32) throws -> () throws -> Void) throws -> [Duration] {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { throw SpawnError.failed("pipe") }
    _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
    let finish: () throws -> Void
    do { finish = try start(pipe[1]) } catch {
        close(pipe[0]); close(pipe[1])
        throw error
    }
    close(pipe[1])
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    close(pipe[0])
    try finish()
    let samples = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int64($0) }
    guard !samples.isEmpty else { throw SpawnError.failed("the unlink loop printed no timings") }
    return samples.map { .nanoseconds($0) }
}

func syscallFigures(policy: SandboxPolicy, seccomp: SeccompCompiler.Program, count: Int) throws -> [Figure] {
    guard let table = seccomp.supervision, table.entries.values.contains(where: { $0.name == "unlink" && $0.supervised }) else {
        throw SpawnError.failed("the default seccomp policy does not supervise unlink")
    }
    var spec = SandboxSpec.make(command: ["/usr/bin/python3", "-c", unlinkLoop, "\(count)", "/tmp/unlink-bench"], policy: policy,
                                seccomp: seccomp, extraBinds: [], environment: [:], keepBrokerFD: false)
    spec.supervised = true
    let audited = try unlinkTimings { try launchLikeTheDaemon(spec, output: $0, record: auditedRecord) }
    let bare = try unlinkTimings { try launchLikeTheDaemon(spec, output: $0, record: { _ in true }) }
    let directory = "/dev/shm/warden-bench-unlink-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let plain = try unlinkTimings { output in
        guard let pid = spawnProgram(["/usr/bin/python3", "-c", unlinkLoop, "\(count)", directory], stdoutFD: output) else {
            throw SpawnError.failed("python3 did not start")
        }
        return { guard waitStatus(pid) == 0 else { throw SpawnError.failed("the unlink loop failed") } }
    }
    let peer = Stats(plain)
    func figure(_ name: String, _ samples: [Duration], target: String) -> Figure {
        let stats = Stats(samples)
        return Figure(figure: name, unit: "µs", warden: stats, peer: "the same unlink unsupervised, on the host", peerStats: peer,
                      overheadMedian: stats.median - peer.median, ratio: peer.median > 0 ? stats.median / peer.median : 0, target: target)
    }
    return [
        figure("supervised unlink (audited, durable)", audited, target: "≤ 30 µs p50"),
        figure("  the same, answered unaudited", bare, target: "— (bare notify round trip)"),
    ]
}
