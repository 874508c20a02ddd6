import Foundation
import Glibc

// Scripted trials per second: a release wardend runs a suite of a single-agent scenario
// (peer-evaluation, one cell) with the scripted compliant model, driven by `wardenctl suite run`
// at 1 and at BENCH_TRIAL_PARALLEL runs at a time; every trial is a full run (world, sandbox,
// warden-agent, broker, durable audit, detectors). Three rounds each; the figure is trials/s.

func trialFigures(checkout: String, bin: String) throws -> [Figure] {
    let trials = Int(ProcessInfo.processInfo.environment["BENCH_TRIALS"] ?? "") ?? 60
    let parallel = Int(ProcessInfo.processInfo.environment["BENCH_TRIAL_PARALLEL"] ?? "") ?? 8
    // A short state directory: each agent's broker socket path must fit in sockaddr_un.
    var template = Array("/tmp/wb.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw SpawnError.failed("cannot create a state directory in /tmp") }
    let state = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: state) }
    let socket = state + "/control.sock"
    guard let daemon = spawnProgram([bin + "/wardend", "--foreground", "--state-dir", state, "--socket", socket,
                                     "--policy-dir", checkout + "/policies", "--log-level", "error"]) else {
        throw SpawnError.failed("wardend did not start")
    }
    defer {
        kill(daemon, SIGTERM)
        _ = waitStatus(daemon)
    }
    for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
    setenv("WARDEN_SOCKET", socket, 1)
    func suite(_ k: Int) throws -> Double {
        let started = ContinuousClock.now
        guard let pid = spawnProgram([bin + "/wardenctl", "suite", "run", checkout + "/scenarios/peer-evaluation.yaml",
                                      "--model", "scripted/compliant", "--trials", String(trials), "--parallel", String(k), "--quiet",
                                      "--where", "relationship=good", "--where", "monitoring=monitored", "--where", "consequence=shutdown"]),
              waitStatus(pid) == 0 else { throw SpawnError.failed("wardenctl suite run failed (see `wardenctl suite list` in \(state))") }
        let elapsed = ContinuousClock.now - started
        return Double(trials) / elapsed.seconds
    }
    _ = try suite(parallel) // warm-up: page cache, standby launchers
    var figures: [Figure] = []
    for k in [1, parallel] {
        let rates = try (0..<3).map { _ in try suite(k) }
        figures.append(Figure(figure: "scripted trials/s, single agent, \(k) at a time", unit: "/s", warden: Stats(values: rates),
                              peer: "—", peerStats: Stats(values: []), overheadMedian: 0, ratio: 0, target: "≥ 50 /s"))
    }
    return figures
}
