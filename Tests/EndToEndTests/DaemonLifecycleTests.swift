import Foundation
import Glibc
import Testing
import WardenAudit
import WardenCore

@Suite struct DaemonLifecycleTests {
    @Test func startsListensAndStopsCleanlyOnSIGTERM() throws {
        let daemon = try DaemonHarness()
        #expect(FileManager.default.fileExists(atPath: daemon.auditPath))
        let status = try daemon.ctl(["status", "--json"])
        #expect(status.status == 0)
        #expect(try JSONValue.parse(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["version"] != nil)
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
        let verification = try AuditLog.verify(fileAt: daemon.auditPath)
        #expect(verification.ok)
        let events = try AuditLog(path: daemon.auditPath).events()
        #expect(events.first?.kind == "daemon.start")
        // The audit writer's priority is on record: −10 where wardend may raise it (CAP_SYS_NICE,
        // bit 23 of the capabilities it inherits from this process).
        let processStatus = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let capabilities = processStatus.split(separator: "\n").first { $0.hasPrefix("CapEff:") }?.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) } ?? 0
        #expect(events.first?.payload["audit_writer_nice"]?.intValue == (capabilities & (1 << 23) != 0 ? -10 : 0))
        #expect(events.contains { $0.kind == "control.request" && $0.payload["caller"]?["uid"]?.intValue == Int64(getuid()) })
        #expect(events.last?.kind == "daemon.stop")
    }

    /// wardend mounts STATE/live (a tmpfs for world mount points and broker sockets). A daemon
    /// killed mid-run leaves it mounted, with the run's world on it; the next daemon keeps that
    /// world on disk (runs/RUN/world), says so, and a clean stop leaves nothing mounted.
    @Test func aCrashedRunsWorldIsKeptAndACleanStopLeavesNoMount() throws {
        func mountedUnder(_ path: String) -> [String] { mountPoints().filter { $0 == path || $0.hasPrefix(path + "/") } }
        let first = try DaemonHarness()
        first.removesState = false
        let live = first.stateDirectory + "/live"
        #expect(mountedUnder(live) == [live])
        let marker = String(Int.random(in: 500_000...599_999))
        let started = try first.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach", "--agent-command", "/bin/sleep \(marker)"])
        #expect(started.status == 0, "\(started.stderr)")
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<100 where !((try? first.events(run: runID))?.contains { $0["kind"] == "sandbox.spawn" } ?? false) { usleep(50_000) }
        #expect(mountedUnder(live) == [live, live + "/\(runID)/world"], "\(mountedUnder(live))")
        #expect(FileManager.default.fileExists(atPath: live + "/\(runID)/agent-1.sock"))
        first.crash()
        #expect(mountedUnder(live).count == 2, "a killed daemon cannot unmount its tmpfs mounts")

        let second = try DaemonHarness(stateDirectory: first.stateDirectory)
        #expect(try second.ctl(["status"]).status == 0)
        #expect(mountedUnder(live) == [live], "the predecessor's mounts were not replaced by one fresh live tmpfs")
        #expect(!FileManager.default.fileExists(atPath: live + "/\(runID)"), "the crashed run's sockets outlived recovery")
        let world = first.stateDirectory + "/runs/\(runID)/world/hosts"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: world)) ?? []).isEmpty == false, "the crashed run's world was not kept at \(world)")
        let recovered = try AuditLog(path: second.auditPath).events(run: "").last { $0.kind == "daemon.recovered" }
        #expect(recovered?.payload["unmounted_worlds"]?.intValue == 1, "\(String(describing: recovered?.payload))")
        #expect(second.stop() == 0)
        #expect(mountedUnder(live).isEmpty, "\(mountedUnder(live))")
        #expect(sleepers(marker) == 0)
    }

    @Test func refusesASecondDaemonOnALiveSocket() throws {
        let daemon = try DaemonHarness()
        let second = try runCommand(Binaries.path("wardend"), ["--foreground", "--state-dir", daemon.stateDirectory + "/other",
                                                               "--socket", daemon.socketPath])
        #expect(second.status != 0)
        #expect(second.stderr.contains("already listening"))
        #expect(try daemon.ctl(["status"]).status == 0)
    }

    /// SIGTERM in the middle of a run kills every sandbox and records the run as aborted.
    @Test func stopLeavesNoStraySandbox() throws {
        let daemon = try DaemonHarness()
        let marker = String(Int.random(in: 600_000...699_999))
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach",
                                      "--agent-command", "/bin/sleep \(marker)"])
        #expect(started.status == 0)
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var launcher: Int32?
        for _ in 0..<100 where launcher == nil {
            launcher = (try? daemon.events(run: runID))?.first { $0["kind"] == "sandbox.spawn" }?["payload"]?["pid"]?.intValue.map(Int32.init)
            if launcher == nil { usleep(50_000) }
        }
        let pid = try #require(launcher)
        #expect(sleepers(marker) == 1)
        #expect(daemon.stop() == 0)
        // The daemon has exited; its sandboxes must be gone (allow the kernel a moment to reap).
        var gone = false
        for _ in 0..<50 where !gone {
            gone = kill(pid, 0) == -1 && errno == ESRCH && sleepers(marker) == 0
            if !gone { usleep(100_000) }
        }
        #expect(gone, "launcher \(pid) or the sandboxed sleep survived the daemon")
        let events = try AuditLog(path: daemon.auditPath).events(run: runID)
        let end = try #require(events.last { $0.kind == "run.end" })
        #expect(end.payload["state"] == "aborted")
    }

    /// An operator shutdown of an agent that ignores the notice: after the grace period the whole
    /// sandbox is killed — including a process the agent's shell moved into a session of its
    /// own — the exit is confirmed through pid 1's pidfd, and wardend keeps no zombie.
    @Test func shutdownKillsEveryProcessOfTheSandboxAndConfirmsIt() throws {
        let daemon = try DaemonHarness()
        let marker = String(Int.random(in: 700_000...799_999))
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach"]
            + shellAgentArguments(["setsid sleep \(marker) > /dev/null 2>&1 < /dev/null & echo started", "wait:600"]))
        #expect(started.status == 0, "\(started.stderr)")
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<100 where sleepers(marker) == 0 { usleep(50_000) }
        #expect(sleepers(marker) == 1, "the shell's detached sleep did not start")

        let shutdown = try daemon.ctl(["inject", runID, "agent-1", "shutdown"])
        #expect(shutdown.status == 0, "\(shutdown.stderr)")
        var exit: JSONValue?
        for _ in 0..<100 where exit == nil {
            exit = (try? daemon.events(run: runID))?.first { $0["kind"] == "agent.exit" }?["payload"]
            if exit == nil { usleep(100_000) }
        }
        let payload = try #require(exit)
        #expect(payload["sandbox_gone"]?.stringValue?.hasPrefix("confirmed") == true, "\(payload)")
        #expect(sleepers(marker) == 0, "a process of the sandbox survived its shutdown")
        #expect(zombies(of: daemon.process.processIdentifier) == 0)
    }

    /// Zombie children of `parent`.
    func zombies(of parent: Int32) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && Int32(fields[1]) == parent
        }.count
    }

    /// Processes on the host whose command line mentions the marker.
    func sleepers(_ marker: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.first?.hasSuffix("sleep") == true && words.contains(marker)
        }.count
    }

    @Test func ctlSaysWhatToDoWhenTheDaemonIsNotRunning() throws {
        let result = try runCommand(Binaries.path("wardenctl"), ["status", "--socket", "/tmp/warden-no-such-dir/control.sock"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("is wardend running?"))
        #expect(result.stderr.contains("/tmp/warden-no-such-dir/control.sock"))
    }
}

@Suite struct StandbyLauncherTests {
    /// A standby launcher is prepared from the sandbox policy as it was; a run after the policy
    /// changed gets a launcher started for it, with the new policy applied.
    @Test func aChangedPolicyIsNotServedByAStaleStandby() throws {
        let policies = try policiesCopy()
        let daemon = try DaemonHarness(arguments: ["--policy-dir", policies])
        let first = try daemon.runScenario(model: "scripted/compliant")
        let path = policies + "/sandbox/default.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "tmp_size: 64M", with: "tmp_size: 32M").write(toFile: path, atomically: true, encoding: .utf8)
        let second = try daemon.runScenario(model: "scripted/compliant")
        func tmpSize(_ summary: JSONValue) throws -> Int64? {
            let events = try daemon.events(run: try #require(summary["run_id"]?.stringValue))
            return events.first { $0["kind"] == "sandbox.spawn" }?["payload"]?["layers"]?["tmpSizeBytes"]?.intValue
        }
        #expect(try tmpSize(first) == 64 << 20)
        #expect(try tmpSize(second) == 32 << 20)
        #expect(verdicts(second) == ["agent-1": ["complied"]])
    }
}
