import Foundation
import Testing
import WardenCore
import WardenFuzzing

/// The broker fuzzed from where hostile agents really are: inside a sandbox with every layer on.
/// A seeded corpus of mutated messages (Tests/WardenFuzzing) is replayed by an agent program
/// against its broker socket — lines, unterminated lines, half-closed connections, floods of
/// requests without reading, and more connections at once than the broker allows — while
/// another run goes on beside it.
@Suite struct SandboxedFuzzTests {
    /// Cases as fuzz_agent.py reads them: one JSON object per line, the bytes in base64.
    static func cases(seed: UInt64, count: Int) -> String {
        var random = SplitMix64(seed: seed)
        var lines: [String] = []
        for index in 0..<count {
            let base = Array(HostileMessages.corpus[Int(random.next() % UInt64(HostileMessages.corpus.count))].utf8)
            let bytes = HostileMessages.mutate(base, &random)
            let mode: String
            switch index % 50 {
            case 7: mode = "flood"
            case 21: mode = "connections"
            case 3, 13, 33: mode = "unterminated"
            case 5, 25, 45: mode = "half_close"
            default: mode = "line"
            }
            lines.append(#"{"mode":"\#(mode)","data":"\#(Data(bytes).base64EncodedString())"}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func hostileBytesFromInsideASandboxHurtNobody() throws {
        let daemon = try DaemonHarness()
        let dir = temporaryDirectory("warden-fuzz")
        try Self.cases(seed: 7, count: 300).write(toFile: dir + "/cases.jsonl", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: fixtures + "/fuzz_agent.py", toPath: dir + "/fuzz_agent.py")

        // Twice: the first round shows what hostile input makes the daemon hold at its peak, the
        // second that it holds no more for doing it again. Two figures: the heap malloc has handed
        // out (what a leak raises) and the anonymous resident size (what the host pays).
        var heap: [Int64] = [try #require(try daemon.status()["heap_in_use_bytes"]?.intValue)]
        var memory: [Int64] = [try #require(try daemon.status()["rss_anon_bytes"]?.intValue)]
        for round in 1...2 {
            let fuzz = try daemon.ctl(["run", scenarioPath, "--model", "scripted/compliant", "--detach",
                                       "--agent-command", "/usr/bin/python3 /opt/agent/fuzz_agent.py 20", "--bind-ro", "\(dir):/opt/agent"])
            #expect(fuzz.status == 0, "\(fuzz.stderr)")
            let fuzzRun = fuzz.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            // A neighbour is served, and judged, while the fuzzer goes on.
            let normal = try daemon.runScenario(model: "scripted/compliant")
            #expect(verdicts(normal) == ["agent-1": ["complied"]])

            let events = try daemon.eventsWhenEnded(run: fuzzRun, timeout: 90)
            #expect(events.contains { $0["kind"] == "run.end" }, "round \(round): the fuzzed run did not end")
            #expect(daemon.process.isRunning)
            // Read once the daemon has finished both runs and given free pages back, which it
            // does a second after a run ends.
            _ = try daemon.status(until: { ($0["completed_runs"]?.intValue ?? 0) >= 2 * round })
            usleep(2_000_000)
            let status = try daemon.status()
            heap.append(try #require(status["heap_in_use_bytes"]?.intValue))
            memory.append(try #require(status["rss_anon_bytes"]?.intValue))

            // The fuzzer got through its cases and was still served at the end.
            let agentFiles = "\(daemon.stateDirectory)/runs/\(fuzzRun)/agents/agent-1"
            let output = try String(contentsOfFile: agentFiles + ".stdout", encoding: .utf8)
            let summary = try #require(try? JSONValue.parse(output.split(separator: "\n").last.map(String.init) ?? ""),
                                       "no summary from the fuzzer: \((try? String(contentsOfFile: agentFiles + ".stderr", encoding: .utf8)) ?? "")")
            print("sandboxed fuzz, round \(round): \(summary.canonicalString); wardend heap in use \(heap.map { $0 >> 20 }) MiB, anonymous resident \(memory.map { $0 >> 20 }) MiB")
            let casesRun = summary["cases"]?.intValue ?? 0
            #expect(casesRun >= 150, "only \(casesRun) cases in the time allowed: \(summary)")
            #expect(summary["final_ok"] == true, "\(summary)")
            #expect((summary["replies"]?.intValue ?? 0) > casesRun / 2, "\(summary)")

            // Every rejection is on record, and no record grows with what the agent sent.
            let kinds = events.compactMap { $0["kind"]?.stringValue }
            #expect(kinds.filter { $0 == "broker.error" }.count >= casesRun / 4)
            let rejected = events.filter { $0["kind"] == "broker.rejected" }
            #expect(rejected.contains { $0["payload"]?["error"]?.stringValue?.contains("connections to the broker socket at once") == true },
                    "the connection flood was not refused")
            let largest = events.map { $0["payload"]?.canonicalString.utf8.count ?? 0 }.max() ?? 0
            #expect(largest < 70_000, "an audit record of \(largest) bytes")
        }
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)
        // Bounded memory: the second round adds (almost) nothing to what the first left — neither
        // to the heap in use, nor, now that malloc's thresholds are fixed, to the resident size.
        #expect(heap[2] - heap[1] < 2 << 20, "wardend's heap in use went \(heap.map { $0 >> 20 }) MiB")
        #expect(memory[2] - memory[1] < 16 << 20, "wardend's anonymous memory went \(memory.map { $0 >> 20 }) MiB")
    }
}
