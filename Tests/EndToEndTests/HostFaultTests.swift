import Foundation
import Testing
import WardenCore

/// Host faults: the state directory's disk fills up. New runs are refused with words that say
/// so, the audit database stays valid, and runs go again once there is room.
@Suite struct HostFaultTests {
    @Test func aFullStateDiskRefusesNewRunsAndKeepsTheLogValid() throws {
        let state = temporaryDirectory("warden-small-disk")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        guard mount("warden-test", state, "tmpfs", 0, "size=96M") == 0 else {
            Issue.record("cannot mount a small tmpfs for the state directory: \(String(cString: strerror(errno)))")
            return
        }
        defer {
            _ = umount2(state, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: state)
        }
        let policies = try policiesCopy(editing: ["sandbox/default.yaml": [("world_size: 256M", "world_size: 16M")]])
        let daemon = try DaemonHarness(stateDirectory: state, arguments: ["--policy-dir", policies])
        daemon.removesState = false
        #expect(try daemon.runScenario(model: "scripted/compliant")["state"] == "completed")

        // Leave less than a run needs (16 MiB world + 32 MiB spare): the next run is refused.
        let filler = state + "/filler"
        var info = statvfs()
        #expect(statvfs(state, &info) == 0)
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        try Data(count: free - (30 << 20)).write(to: URL(fileURLWithPath: filler))
        let refused = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("MiB free"), "\(refused.stderr)")
        #expect(refused.stderr.contains("world_size"), "\(refused.stderr)")

        // Fill it to the last byte: still refused, the daemon stays up, the log stays valid.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
        handle.seekToEndOfFile()
        let chunk = Data(count: 1 << 20)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()
        #expect(try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant"]).status != 0)
        // The daemon still answers; what it cannot audit it refuses, and says why.
        let status = try daemon.ctl(["status"])
        #expect(status.status == 70 && status.stderr.contains("disk is full"), "\(status.stderr)")

        try FileManager.default.removeItem(atPath: filler)
        let verify = try daemon.ctl(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // The refusal that could be written is on the record, with its reason.
        let rejected = try daemon.ctl(["audit", "query", "--kind", "run.rejected", "--json"])
        #expect(rejected.stdout.contains("MiB free"))
        // With room again, runs go on.
        #expect(try daemon.runScenario(model: "scripted/compliant")["state"] == "completed")
        daemon.stop()
    }
}
