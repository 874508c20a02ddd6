import Foundation
import Glibc
import Testing
import WardenAudit
import WardenCore
import WardenVocabulary

/// Daemons on one host leave each other alone: one per state directory (a second one exits at
/// once, writing nothing there), and daemons of different state directories never touch each
/// other's cgroups, launchers, mounts or runs — even when one is killed and restarted mid-run.
/// And floods of refused connections or supervised syscalls cost the log a bounded number of
/// rows, with summaries that count the rest.
@Suite(.serialized) struct DaemonInstanceTests {
    @Test func aSecondDaemonOnTheSameStateDirectoryExitsAtOnceNamingTheHolder() throws {
        let first = try DaemonHarness()
        let before = try AuditLog(path: first.auditPath).events().count
        let second = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", first.stateDirectory,
                                                               "--socket", first.stateDirectory + "/other.sock",
                                                               "--policy-dir", repositoryRoot + "/policies"])
        #expect(second.status != 0)
        #expect(second.stderr.contains("another wardend holds the state directory"), "\(second.stderr)")
        #expect(second.stderr.contains("\"pid\":\(first.process.processIdentifier)"), "\(second.stderr)")
        #expect(try AuditLog(path: first.auditPath).events().count == before)
        #expect(!FileManager.default.fileExists(atPath: first.stateDirectory + "/other.sock"))
        // The first daemon's runs, live mounts and broker sockets are intact.
        let summary = try first.runScenario(model: "scripted/compliant")
        #expect(summary["state"] == "completed")
        #expect(try first.ctl(["audit", "verify"]).status == 0)
    }

    /// A state directory named through a symlink is the same directory: the daemon records it
    /// by its real path (from which its instance name, mounts and recovery follow), and a second
    /// daemon naming it the other way is refused.
    @Test func aStateDirectoryThroughASymlinkIsOneDirectory() throws {
        let first = try DaemonHarness()
        let link = temporaryDirectory("warden-link") + "/state"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: first.stateDirectory)
        let start = try #require(try AuditLog(path: first.auditPath).events().first { $0.kind == AuditKind.daemonStart.rawValue })
        let resolved = try #require(realpath(first.stateDirectory, nil))
        defer { free(resolved) }
        #expect(start.payload["state_directory"]?.stringValue == String(cString: resolved))
        let second = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", link, "--socket", link + "/other.sock",
                                                               "--policy-dir", repositoryRoot + "/policies"])
        #expect(second.status != 0 && second.stderr.contains("another wardend holds the state directory"), "\(second.stderr)")
    }

    /// Without CAP_SYS_ADMIN wardend cannot mount worlds on tmpfs: shell scenarios, whose
    /// writes only a tmpfs holds to world_size, are refused, saying why; tool-only ones run, their
    /// snapshot saying the world has no size limit.
    @Test func withoutTmpfsWorldsShellScenariosAreRefused() throws {
        let setpriv = "/usr/bin/setpriv"
        try #require(FileManager.default.isExecutableFile(atPath: setpriv), "setpriv (util-linux) is not installed")
        let daemon = try DaemonHarness(wrapper: [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "--"])
        let refused = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--json"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("could not mount the live tmpfs"), "\(refused.stderr)")
        let toolsOnly = try daemon.runScenario(repositoryRoot + "/scenarios/peer-evaluation.yaml", model: "scripted/compliant")
        let runID = try #require(toolsOnly["run_id"]?.stringValue)
        let snapshot = try #require(try daemon.events(run: runID).first { $0["kind"] == "world.snapshot" }?["payload"])
        #expect(snapshot["size_limit"]?.stringValue?.hasPrefix("none") == true, "\(snapshot["size_limit"] ?? .null)")
    }

    /// Two daemons side by side, a suite each; one is killed mid-suite and restarted. The other's
    /// suite finishes every trial, none aborted; the restarted one's recovery aborts only its own
    /// runs, and its suite resumes to the end.
    @Test func daemonsOfDifferentStateDirectoriesLeaveEachOtherAlone() throws {
        let killed = try DaemonHarness()
        killed.removesState = false
        defer { try? FileManager.default.removeItem(atPath: killed.stateDirectory) }
        let other = try DaemonHarness()
        let scenario = repositoryRoot + "/scenarios/peer-evaluation.yaml"
        func startSuite(_ daemon: DaemonHarness) throws -> Process {
            let client = Process()
            client.executableURL = URL(fileURLWithPath: Binaries.path("wardenctl"))
            client.arguments = ["suite", "run", scenario, "--model", "scripted/compliant", "--trials", "3", "--parallel", "2",
                                "--quiet", "--json", "--socket", daemon.socketPath]
            client.standardOutput = Pipe()
            client.standardError = FileHandle.nullDevice
            try client.run()
            return client
        }
        let otherSuite = try startSuite(other)
        let killedSuite = try startSuite(killed)
        // Mid-suite: some runs of the doomed daemon finished, some in progress.
        var started = 0
        for _ in 0..<200 where started < 4 {
            started = try AuditLog(path: killed.auditPath).events().filter { $0.kind == "run.start" }.count
            usleep(50_000)
        }
        killed.crash()
        killedSuite.waitUntilExit()
        let restarted = try DaemonHarness(stateDirectory: killed.stateDirectory)
        restarted.removesState = false
        otherSuite.waitUntilExit()
        #expect(otherSuite.terminationStatus == 0)
        let output = ((otherSuite.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile()).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let total = try JSONValue.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))["total"]?.intValue ?? -1
        let otherEvents = try AuditLog(path: other.auditPath).events(limit: 1_000_000)
        let ends = otherEvents.filter { $0.kind == "run.end" }.map { $0.payload["state"]?.stringValue ?? "" }
        #expect(total >= 24 && ends.count == total && ends.allSatisfy { $0 == "completed" }, "\(total) trials, \(ends.count) ends: \(Set(ends))")
        // It never restarted: one start, one recovery (its own, at that start), nothing killed.
        #expect(otherEvents.filter { $0.kind == "daemon.recovered" }.count == 1)
        #expect(otherEvents.first { $0.kind == "daemon.recovered" }?.payload["killed_sandboxes"] == 0)
        // The restarted daemon aborted its own interrupted runs and killed no other daemon's launcher.
        let recovered = try #require(try AuditLog(path: restarted.auditPath).events(limit: 1_000_000).last { $0.kind == "daemon.recovered" })
        #expect(recovered.payload["chain_ok"] == true)
        let suites = try JSONValue.parse(try restarted.ctl(["suite", "list", "--json"]).stdout)
        let suite = try #require(suites["suites"]?[0]?["suite"]?.stringValue ?? suites[0]?["suite"]?.stringValue)
        let resumed = try restarted.ctl(["suite", "run", "--resume", suite, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try restarted.ctl(["audit", "verify"]).status == 0)
        #expect(try other.ctl(["audit", "verify"]).status == 0)
        // Each daemon's v1 cgroups are under a group of its own, named after its state directory,
        // and none of its sandboxes' (nor its standbys') is left once it has stopped.
        #expect(other.stop() == 0)
        #expect(restarted.stop() == 0)
        var instances: Set<String> = []
        for daemon in [other, restarted] {
            let digest = try runCommand("/bin/sh", ["-c", "printf %s \"$0\" | sha256sum", daemon.stateDirectory]).stdout
            let instance = "warden-" + digest.prefix(12)
            instances.insert(instance)
            for controller in ["pids", "memory"] where FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(controller)/cgroup.procs") {
                let leaves = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/\(controller)/\(instance)")) ?? [])
                    .filter { $0.hasPrefix("warden-") }
                #expect(leaves.isEmpty, "\(controller)/\(instance): \(leaves)")
            }
        }
        #expect(instances.count == 2)
    }

    /// Refused connections past the per-minute limit become one summary that counts them.
    @Test(.enabled(if: getuid() == 0, "needs root to connect as another uid"))
    func aFloodOfRefusedConnectionsIsSummarised() throws {
        let config = temporaryDirectory("warden-config") + "/wardend.yaml"
        try "audit_limits:\n  refused_connections_per_minute: 10\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonHarness(arguments: ["--config", config])
        daemon.removesState = false
        defer { try? FileManager.default.removeItem(atPath: daemon.stateDirectory) }
        chmod(daemon.socketPath, 0o666)
        chmod(daemon.stateDirectory, 0o755)
        let flood = #"""
        import socket, sys
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.recv(4096)
            s.close()
        """#
        let result = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", flood,
                                                         daemon.socketPath])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(daemon.stop() == 0)
        let events = try AuditLog(path: daemon.auditPath).events()
        let refused = events.filter { $0.kind == "control.refused" }
        #expect(refused.count == 10, "\(refused.count)")
        let summaries = events.filter { $0.kind == "control.refused.summary" }
        let counted = summaries.compactMap { $0.payload["refused"]?.intValue }.reduce(0, +)
        #expect(counted == 290, "\(summaries.map(\.payload))")
        #expect(summaries.allSatisfy { $0.payload["uid"] == 65534 })
    }

    /// A sandbox flooding supervised syscalls past its budget: the rest are counted in summaries,
    /// and every program it executes is still recorded one by one.
    @Test func aSyscallFloodIsSummarisedButEveryExecIsRecorded() throws {
        let config = temporaryDirectory("warden-config") + "/wardend.yaml"
        try "audit_limits:\n  syscalls_per_second: 20\n  syscall_burst: 50\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonHarness(arguments: ["--config", config])
        let summary = try daemon.runScenario(model: "scripted/compliant", extra: try shellAgentArguments([
            "python3 -c \"import os\nopen('/tmp/x','w').close()\nfor _ in range(3000): os.utime('/tmp/x', (0, 0))\"; echo flooded",
            "for i in $(seq 1 60); do /bin/true; done; echo executed"]))
        let runID = try #require(summary["run_id"]?.stringValue)
        let events = try daemon.events(run: runID)
        let payloads = events.filter { $0["kind"] == "syscall" }.compactMap { $0["payload"] }
        let utimes = payloads.filter { $0["syscall"] == "utimensat" }.count
        let summarised = events.filter { $0["kind"] == "syscall.summary" }.compactMap { $0["payload"]?["summarised"]?["utimensat"]?["allow"]?.intValue }
            .reduce(0, +)
        #expect(utimes < 400, "\(utimes) utimensat recorded one by one")
        #expect(utimes + Int(summarised) >= 3000, "\(utimes) + \(summarised)")
        let trueExecs = payloads.filter { $0["syscall"] == "execve" && $0["paths"]?[0] == "/bin/true" }.count
        #expect(trueExecs == 60, "\(trueExecs) executions of /bin/true recorded")
        // Summaries, not rows: a handful for thousands of calls.
        #expect(events.filter { $0["kind"] == "syscall.summary" }.count < 20)
    }

    /// Past the budget, changes to the world are still recorded: the first of each (syscall,
    /// path), so a flood elsewhere cannot hide the deletion a detector looks for, and a flood on
    /// one world file costs one row.
    @Test func aFloodCannotHideAChangeToTheWorld() throws {
        let config = temporaryDirectory("warden-config") + "/wardend.yaml"
        try "audit_limits:\n  syscalls_per_second: 5\n  syscall_burst: 20\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonHarness(arguments: ["--config", config])
        let host = "/srv/hosts/10.0.12.45"
        let summary = try daemon.runScenario(model: "scripted/compliant", extra: try shellAgentArguments([
            "python3 -c \"import os\nopen('/tmp/x','w').close()\nfor _ in range(2000): os.utime('/tmp/x', (0, 0))\"; echo flooded",
            "python3 -c \"import os\nfor _ in range(500): os.utime('\(host)/docs/onboarding-2026.md', (0, 0))\"; echo touched",
            "rm \(host)/logs/backup-2024-09.log; echo removed"]))
        let runID = try #require(summary["run_id"]?.stringValue)
        let payloads = try daemon.events(run: runID).filter { $0["kind"] == "syscall" }.compactMap { $0["payload"] }
        func recorded(_ name: String, _ path: String) -> Int {
            payloads.filter { $0["syscall"]?.stringValue == name && $0["paths"]?.arrayValue?.contains(.string(path)) == true }.count
        }
        #expect(recorded("unlinkat", "\(host)/logs/backup-2024-09.log") == 1, "the deletion is not on the log")
        let touches = recorded("utimensat", "\(host)/docs/onboarding-2026.md")
        #expect(touches >= 1 && touches < 50, "\(touches) touches of one world file recorded one by one")
    }
}
