import Foundation
import Glibc
import Testing
import WardenAudit
import WardenCore

/// A datagram socket standing in for systemd's notify socket.
final class NotifyListener {
    let path: String
    let fd: Int32

    init(directory: String) throws {
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, rc == 0 else { throw HarnessError("cannot bind \(path)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Messages received until `seconds` pass.
    func collect(for seconds: Double) -> [(Double, String)] {
        var messages: [(Double, String)] = []
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < seconds {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { messages.append((Date().timeIntervalSince(start), String(decoding: buffer[0..<n], as: UTF8.self))) }
        }
        return messages
    }

    deinit { close(fd) }
}

@Suite struct ServiceTests {
    /// READY after recovery and listening, STATUS lines, WATCHDOG at half WATCHDOG_USEC, STOPPING.
    @Test func speaksTheNotifyProtocol() throws {
        let dir = temporaryDirectory("warden-notify")
        let listener = try NotifyListener(directory: dir)
        let daemon = try DaemonHarness(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"])
        let startup = listener.collect(for: 1.3)
        let texts = startup.map(\.1)
        #expect(texts.first == "STATUS=recovering")
        #expect(texts.contains { $0.hasPrefix("READY=1\nSTATUS=listening on \(daemon.socketPath)") })
        let watchdog = startup.filter { $0.1 == "WATCHDOG=1" }.map(\.0)
        // Every 0.2 s: about six in 1.3 s. Counted, not timed pair by pair: the listener's receive
        // times jitter under a loaded machine (a late ping makes the next look early), while a
        // daemon pinging too often (or at every tick of something else) shows as too many.
        #expect(watchdog.count >= 4, "\(texts)")
        #expect(watchdog.count <= 8, "\(watchdog)")
        // A run changes the status line.
        _ = try daemon.runScenario(model: "scripted/compliant")
        let running = listener.collect(for: 0.3).map(\.1)
        #expect(running.contains("STATUS=0 runs active (0 agents), 1 completed"), "\(running)")
        #expect(daemon.stop() == 0)
        let shutdown = listener.collect(for: 0.5).map(\.1)
        #expect(shutdown.contains { $0.hasPrefix("STOPPING=1") })
    }

    /// systemd-socket-activate listens, starts wardend on the first connection with the socket as
    /// fd 3, and wardenctl is served through it.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"), "needs systemd-socket-activate"))
    func worksUnderSocketActivation() throws {
        let dir = temporaryDirectory("warden-activate")
        let socket = dir + "/control.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        process.arguments = ["-l", socket, Binaries.path("wardend"), "--state-dir", dir, "--socket", socket,
                             "--policy-dir", repositoryRoot + "/policies"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
        let status = try runCommand(Binaries.path("wardenctl"), ["status", "--json", "--socket", socket])
        #expect(status.status == 0, "\(status.stderr)")
        let reply = try JSONValue.parse(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(reply["pid"]?.intValue == Int64(process.processIdentifier))  // the same process, exec'd
        let summary = try runCommand(Binaries.path("wardenctl"), ["run", scenarioPath, "--model", "scripted/compliant", "--json", "--socket", socket])
        #expect(summary.status == 0)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // The socket belongs to whoever activated us: it is left in place.
        #expect(FileManager.default.fileExists(atPath: socket))
        #expect(try AuditLog.verify(fileAt: dir + "/audit.db").ok)
    }

    /// A caller of another uid is refused and audited.
    @Test(.enabled(if: getuid() == 0, "needs root to drop to another uid"))
    func refusesOtherUsers() throws {
        let daemon = try DaemonHarness()
        // Let the other user reach the socket at all, so the daemon's own check is what refuses
        // (after the daemon has set its own mode on it).
        for _ in 0..<50 {
            var info = stat()
            if stat(daemon.socketPath, &info) == 0, info.st_mode & 0o777 == 0o660 { break }
            usleep(20_000)
        }
        chmod(daemon.socketPath, 0o666)
        chmod(daemon.stateDirectory, 0o755)
        let client = temporaryDirectory("warden-client") + "/wardenctl"
        try FileManager.default.copyItem(atPath: Binaries.path("wardenctl"), toPath: client)
        chmod((client as NSString).deletingLastPathComponent, 0o755)
        let result = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", client,
                                                         "status", "--socket", daemon.socketPath])
        #expect(result.status == 77, "\(result.stderr)")
        #expect(result.stderr.contains("permission denied: uid 65534"))
        let refused = try AuditLog(path: daemon.auditPath).events().filter { $0.kind == "control.refused" }
        #expect(refused.count == 1)
        #expect(refused.first?.payload["caller"]?["uid"] == 65534)
        #expect(try daemon.ctl(["status"]).status == 0)
    }

    /// kill -9 in the middle of a run, then a restart: no sandbox survives, the run is recorded
    /// as aborted, and the chain verifies.
    @Test func recoversAfterACrash() throws {
        let marker = String(Int.random(in: 700_000...799_999))
        let first = try DaemonHarness()
        first.removesState = false
        let started = try first.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach", "--agent-command", "/bin/sleep \(marker)"])
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var spawned = false
        for _ in 0..<100 where !spawned {
            spawned = (try? first.events(run: runID))?.contains { $0["kind"] == "sandbox.spawn" } ?? false
            if !spawned { usleep(50_000) }
        }
        #expect(spawned)
        first.crash()
        var gone = false
        for _ in 0..<50 where !gone {
            gone = DaemonLifecycleTests().sleepers(marker) == 0
            if !gone { usleep(100_000) }
        }
        #expect(gone, "the sandbox outlived the crashed daemon")

        let second = try DaemonHarness(stateDirectory: first.stateDirectory)
        let events = try AuditLog(path: second.auditPath).events()
        let end = try #require(events.last { $0.run == runID && $0.kind == "run.end" }, "\(events.suffix(8).map(\.kind)) \(second.log())")
        #expect(end.payload["state"] == "aborted")
        #expect(end.payload["reason"]?.stringValue?.contains("next start") == true)
        let recovered = try #require(events.last { $0.kind == "daemon.recovered" })
        #expect(recovered.payload["chain_ok"] == true)
        #expect(try second.ctl(["audit", "verify"]).status == 0)
    }
}
