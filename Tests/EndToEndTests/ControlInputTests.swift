import Foundation
import Glibc
import Testing
import WardenCore

/// Control clients that send too much or too slowly: dropped, and never in anyone's way.
@Suite struct ControlInputTests {
    @Test func aStalledRequestIsDroppedWhileOthersAreServed() throws {
        let dir = temporaryDirectory("warden-config")
        try "request_timeout: 1\ncontrol_group: warden\n".write(toFile: dir + "/wardend.yaml", atomically: true, encoding: .utf8)
        let daemon = try DaemonHarness(arguments: ["--config", dir + "/wardend.yaml"])
        let stalled = try LineChannel.connect(unixPath: daemon.socketPath)
        defer { stalled.close() }
        // A whole request is answered...
        try stalled.writeLine(Array(#"{"jsonrpc":"2.0","id":1,"method":"status"}"#.utf8))
        #expect(try JSONValue.parse(try #require(try stalled.readLine()))["id"] == 1)
        // ...one that stops part-way (no newline) is dropped after the timeout, and meanwhile
        // other clients are served.
        let partial = Array(#"{"jsonrpc":"2.0","id":2,"meth"#.utf8)
        _ = partial.withUnsafeBytes { write(stalled.fd, $0.baseAddress, $0.count) }
        let started = Date()
        #expect(try daemon.ctl(["status"]).status == 0)
        #expect((try? stalled.readLine()) == nil)
        let waited = Date().timeIntervalSince(started)
        #expect(waited > 0.5 && waited < 4, "closed after \(waited) s")
        #expect(try daemon.ctl(["status"]).status == 0)
    }

    @Test func anOversizedRequestClosesOnlyItsConnection() throws {
        signal(SIGPIPE, SIG_IGN)
        let daemon = try DaemonHarness()
        let flood = try LineChannel.connect(unixPath: daemon.socketPath)
        defer { flood.close() }
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        var refused = false
        for _ in 0..<40 {
            let n = chunk.withUnsafeBytes { write(flood.fd, $0.baseAddress, $0.count) }
            if n < 0 { refused = true; break }
        }
        if !refused { refused = (try? flood.readLine()) == nil }
        #expect(refused)
        #expect(try daemon.ctl(["status"]).status == 0)
    }

    @Test func aBadConfigFileNamesItsLine() throws {
        let dir = temporaryDirectory("warden-config")
        try "state_dir: /tmp/x\ncontrol_groups: warden\n".write(toFile: dir + "/wardend.yaml", atomically: true, encoding: .utf8)
        let result = try runCommand(Binaries.path("wardend"), ["--config", dir + "/wardend.yaml", "--state-dir", dir, "--socket", dir + "/s.sock"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("wardend.yaml:2: control_groups: unknown field"))
    }
}
