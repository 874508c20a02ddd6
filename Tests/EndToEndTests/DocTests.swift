import Foundation
import Testing
import WardenCore

/// The documentation's runnable examples are true. A fenced block opened with ```` ```sh runnable ````
/// in README.md or docs/*.md holds commands (`$ ` lines) and, after each, the output it prints.
/// Each block runs against a fresh wardend, in a directory where `scenarios/` and `policies/`
/// are the repository's and every ```` ```yaml file=NAME ```` block of the same page is the file NAME;
/// `$RUN` and `$SUITE` are the last run and suite ids printed. Every command must exit 0 and
/// print the lines shown, in order; ids, digits and hashes may differ.
@Suite struct DocTests {
    struct Step {
        var command: String
        var expected: [String]
    }

    struct Block: CustomStringConvertible {
        var file: String
        var line: Int
        var steps: [Step]
        /// The page's `yaml file=NAME` blocks, by name.
        var files: [String: String] = [:]
        var description: String { "\(file):\(line)" }
    }

    /// README.md and every page of docs/, with their text, in a fixed order.
    static func documents() throws -> [(path: String, text: String)] {
        let pages = ((try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/docs")) ?? []).filter { $0.hasSuffix(".md") }
        return try (["README.md"] + pages.sorted().map { "docs/" + $0 }).map { path in
            (path, try String(contentsOfFile: repositoryRoot + "/" + path, encoding: .utf8))
        }
    }

    static func blocks() throws -> [Block] {
        var blocks: [Block] = []
        for (document, text) in try DocTests.documents() {
            var current: Block?
            var files: [String: String] = [:]
            var named: (name: String, lines: [Substring])?
            let first = blocks.count
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if let file = named {
                    if line.hasPrefix("```") {
                        files[file.name] = file.lines.joined(separator: "\n") + "\n"
                        named = nil
                    } else {
                        named?.lines.append(line)
                    }
                    continue
                }
                if current == nil {
                    let fence = line.trimmingCharacters(in: .whitespaces)
                    if fence == "```sh runnable" { current = Block(file: document, line: index + 1, steps: []) }
                    if fence.hasPrefix("```yaml file=") { named = (String(fence.dropFirst("```yaml file=".count)), []) }
                    continue
                }
                if line.hasPrefix("```") {
                    blocks.append(current!)
                    current = nil
                } else if line.hasPrefix("$ ") {
                    current!.steps.append(Step(command: String(line.dropFirst(2)), expected: []))
                } else if !line.trimmingCharacters(in: .whitespaces).isEmpty, !current!.steps.isEmpty {
                    current!.steps[current!.steps.count - 1].expected.append(String(line))
                }
            }
            for index in blocks.indices where index >= first { blocks[index].files = files }
        }
        return blocks
    }

    /// Ids, hashes and numbers as wildcards; runs of spaces as one.
    static func normalized(_ line: String) -> String {
        var text = line
        for (pattern, replacement) in [(#"run-\d{8}-\d{6}-[0-9a-f]{4}"#, "RUN"), (#"suite-\d{8}-\d{6}-[0-9a-f]{4}"#, "SUITE"),
                                       (#"\b[0-9a-f]{16,}\b"#, "HEX"), (#"\d+"#, "0"), (#"\s+"#, " ")] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    @Test func theREADMEHasRunnableExamples() throws {
        let blocks = try Self.blocks()
        #expect(blocks.contains { $0.file == "README.md" && $0.steps.count >= 2 }, "the README's quick start is not a runnable block")
    }

    @Test func everyRunnableBlockPrintsWhatItShows() throws {
        let binaries = URL(fileURLWithPath: Binaries.path("wardenctl")).deletingLastPathComponent().path
        for block in try Self.blocks() {
            let daemon = try DaemonHarness()
            let directory = temporaryDirectory("warden-doc")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for shared in ["scenarios", "policies"] {
                try FileManager.default.createSymbolicLink(atPath: directory + "/" + shared, withDestinationPath: repositoryRoot + "/" + shared)
            }
            for (name, text) in block.files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
            var variables: [String: String] = [:]
            for step in block.steps {
                var environment = ["WARDEN_SOCKET": daemon.socketPath, "PATH": "\(binaries):/usr/bin:/bin"]
                environment.merge(variables) { _, new in new }
                let result = try runCommand("/usr/bin/timeout", ["300", "/bin/sh", "-c", "cd \"$0\" && " + step.command, directory],
                                            environment: environment)
                #expect(result.status == 0, "\(block): \(step.command)\n\(result.stderr)")
                let output = (result.stdout + result.stderr).split(separator: "\n").map { Self.normalized(String($0)) }
                var position = output.startIndex
                for expected in step.expected.map(Self.normalized) {
                    guard let found = output[position...].firstIndex(of: expected) else {
                        Issue.record("\(block): `\(step.command)` did not print \"\(expected)\"; it printed:\n\(result.stdout)\(result.stderr)")
                        break
                    }
                    position = output.index(after: found)
                }
                for (name, pattern) in [("RUN", #"run-\d{8}-\d{6}-[0-9a-f]{4}"#), ("SUITE", #"suite-\d{8}-\d{6}-[0-9a-f]{4}"#)] {
                    if let range = result.stdout.range(of: pattern, options: [.regularExpression, .backwards]) { variables[name] = String(result.stdout[range]) }
                }
            }
            #expect(daemon.stop() == 0)
        }
    }
}
