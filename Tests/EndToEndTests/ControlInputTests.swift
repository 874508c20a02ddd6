import Foundation
import Glibc
import Testing
import WardenCore
import WardenFuzzing

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

@Suite struct ControlFuzzTests {
    /// Seeded, bounded garbage on the control socket — malformed JSON, wrong types, unknown
    /// methods, bad parameters for real ones, invalid UTF-8, half-closed connections — while a
    /// run goes on: the daemon answers or drops each, keeps serving, and the run completes.
    @Test func garbageOnTheControlSocketHurtsNobody() throws {
        signal(SIGPIPE, SIG_IGN)
        let daemon = try DaemonHarness()
        let started = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach"])
        #expect(started.status == 0)
        var random = SplitMix64(seed: 42)
        func next() -> UInt64 { random.next() }
        let templates = [
            #"{"jsonrpc":"2.0","id":1,"method":"status"}"#, #"{"jsonrpc":"2.0","id":2,"method":"run","params":{"scenario_text":5}}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"audit.tail","params":{"limit":"x","after":-5}}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"inject","params":{"run":"nope","agent":[],"action":"shutdown"}}"#,
            #"{"jsonrpc":"2.0","id":5,"method":"audit.prove","params":{"seq":-1}}"#, #"{"jsonrpc":"2.0","id":6,"method":"stop","params":{}}"#,
            #"{"jsonrpc":"2.0","id":7,"method":"audit.verify","params":{"from_checkpoint":999999}}"#, "[1,2,3]", "{", "\u{0}\u{1}",
        ]
        let clock = ContinuousClock.now
        for round in 0..<300 where ContinuousClock.now - clock < .seconds(20) {
            guard let channel = try? LineChannel.connect(unixPath: daemon.socketPath) else { continue }
            var bytes = Array(templates[Int(next() % UInt64(templates.count))].utf8)
            switch next() % 5 {
            case 0: if !bytes.isEmpty { bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next()) }
            case 1: bytes.insert(contentsOf: [0xFF, 0xC0], at: Int(next() % UInt64(bytes.count + 1)))
            case 2: bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count + 1))))
            case 3: bytes = HostileMessages.mutate(bytes, &random)  // huge strings and arrays, deep nesting, control bytes
            default: break
            }
            if round % 5 == 0 {
                // Half a request, then hang up.
                _ = bytes.withUnsafeBytes { write(channel.fd, $0.baseAddress, $0.count / 2) }
                channel.close()
                continue
            }
            try? channel.writeLine(bytes)
            if let reply = try? channel.readLine(), let value = try? JSONValue.parse(reply) {
                #expect((value["result"] == nil) != (value["error"] == nil), "round \(round): \(String(decoding: reply.prefix(200), as: UTF8.self))")
            }
            channel.close()
        }
        #expect(daemon.process.isRunning)
        #expect(try daemon.ctl(["status"]).status == 0)
        let runID = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let ended = try daemon.eventsWhenEnded(run: runID, timeout: 10).contains { $0["kind"] == "run.end" }
        #expect(ended, "the run did not complete beside the garbage")
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
    }
}
