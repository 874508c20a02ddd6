import Foundation
import Testing
import WardenCore

/// Every shell block of README.md and docs/*.md says how it is kept true, in its fence:
///
/// - ```` ```sh runnable ````: run by `DocTests`, output compared;
/// - ```` ```sh synopsis ````: the shape of a command; every option it shows is in that
///   command's `--help`;
/// - ```` ```sh covered=PATH[,PATH] ````: run by a test (a file under Tests/) or a script that
///   `scripts/test` runs; every Warden command of the block (wardenctl, wardend, warden-sandbox,
///   scripts/…) is in one of them with its subcommand and every option the block gives it.
///   Other programs (swift, systemctl, apt-get) are shown as the tests run them but not checked.
///
/// A shell block with none of these fails: an example nobody runs drifts.
@Suite struct DocCoverageTests {
    struct Block: CustomStringConvertible {
        var file: String
        var line: Int
        var mark: String
        /// Commands, continuation lines joined, comments and `$ ` prompts removed.
        var commands: [String]
        var description: String { "\(file):\(line)" }
    }

    static func shellBlocks() throws -> [Block] {
        var blocks: [Block] = []
        for (document, text) in try DocTests.documents() {
            var current: Block?
            var pending = ""
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard var block = current else {
                    if trimmed == "```sh" || trimmed.hasPrefix("```sh ") {
                        current = Block(file: document, line: index + 1, mark: String(trimmed.dropFirst(5)).trimmingCharacters(in: .whitespaces),
                                        commands: [])
                    }
                    continue
                }
                if trimmed.hasPrefix("```") {
                    if !pending.isEmpty { block.commands.append(pending) }
                    blocks.append(block)
                    current = nil
                    pending = ""
                    continue
                }
                var command = String(line)
                if block.mark == "runnable" {
                    guard command.hasPrefix("$ ") else { continue }  // output, not a command
                    command.removeFirst(2)
                }
                if let hash = command.range(of: " #") { command = String(command[..<hash.lowerBound]) }
                command = command.trimmingCharacters(in: .whitespaces)
                if command.hasSuffix("\\") {
                    pending += command.dropLast() + " "
                } else if !(pending + command).isEmpty {
                    block.commands.append(pending + command)
                    pending = ""
                }
                current = block
            }
        }
        return blocks
    }

    /// The Warden command a line runs, as words: program, subcommands, options. Nil for other
    /// programs. Leading `VAR=value` assignments are skipped.
    static func wardenCommand(_ line: String) -> (program: String, subcommands: [String], options: [String])? {
        var words = line.split(separator: " ").map(String.init)
        while let first = words.first, first.contains("="), !first.hasPrefix("-") { words.removeFirst() }
        guard let program = words.first else { return nil }
        let name = program.split(separator: "/").last.map(String.init) ?? program
        let scripted = program.hasPrefix("scripts/")
        guard ["wardenctl", "wardend", "warden-sandbox"].contains(name) || scripted else { return nil }
        var subcommands: [String] = []
        if name == "wardenctl" {
            var rest = words.dropFirst()
            // Global options may come first (`wardenctl --socket PATH ps`).
            while let word = rest.first, word.hasPrefix("-") { rest = rest.dropFirst(word == "--json" ? 1 : 2) }
            for word in rest.prefix(2) {
                guard word.allSatisfy({ $0.isLowercase || $0 == "-" }), !word.hasPrefix("-") else { break }
                subcommands.append(word)
                if !["suite", "audit", "scenario", "runs"].contains(subcommands[0]) { break }
            }
        }
        let options = words.dropFirst().filter { $0.hasPrefix("--") && $0.count > 2 }.map { String($0.split(separator: "=")[0]) }
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]|.")) }.filter { $0.count > 2 }
        return (scripted ? program : name, subcommands, options)
    }

    @Test func everyShellBlockIsRunOrCovered() throws {
        let blocks = try Self.shellBlocks()
        #expect(blocks.count >= 20, "found only \(blocks.count) shell blocks")
        for block in blocks {
            let known = block.mark == "runnable" || block.mark == "synopsis" || block.mark.hasPrefix("covered=")
            #expect(known, "\(block): a ```sh block must be `runnable`, `synopsis` or `covered=PATH` (see DocCoverageTests)")
        }
    }

    /// Files that `scripts/test` runs: itself, CI's entry, the scripts it names, and tests.
    static func runByTheTests(_ path: String) throws -> Bool {
        if path.hasPrefix("Tests/") || path == "scripts/test" || path == ".ci/run" { return true }
        let script = try String(contentsOfFile: repositoryRoot + "/scripts/test", encoding: .utf8)
        return script.contains(path)
    }

    @Test func coveredBlocksNameWhatRunsTheirCommands() throws {
        for block in try Self.shellBlocks() where block.mark.hasPrefix("covered=") {
            let paths = block.mark.dropFirst("covered=".count).split(separator: ",").map(String.init)
            var texts: [String] = []
            for path in paths {
                guard let text = try? String(contentsOfFile: repositoryRoot + "/" + path, encoding: .utf8) else {
                    Issue.record("\(block): \(path) does not exist")
                    continue
                }
                #expect(try Self.runByTheTests(path), "\(block): \(path) is not run by scripts/test")
                // Swift argument arrays read as words: ["audit", "verify"] → audit verify.
                texts.append(text.replacingOccurrences(of: "\", \"", with: " ").replacingOccurrences(of: "\"", with: " "))
            }
            for line in block.commands {
                guard let command = Self.wardenCommand(line) else { continue }
                let needed = [command.subcommands.joined(separator: " ")].filter { !$0.isEmpty } + command.options
                    + (command.program.hasPrefix("scripts/") ? [command.program] : [])
                for word in needed {
                    #expect(texts.contains { $0.contains(word) }, "\(block): `\(line)`: \(word) is not in \(paths.joined(separator: ", "))")
                }
            }
        }
    }

    @Test func synopsesShowOnlyOptionsTheCommandHas() throws {
        for block in try Self.shellBlocks() where block.mark == "synopsis" {
            for line in block.commands {
                guard let command = Self.wardenCommand(line), !command.program.hasPrefix("scripts/") else { continue }
                let program = command.program == "wardend" ? Binaries.path("wardend") : Binaries.path(command.program)
                let help = try runCommand(program, command.subcommands + ["--help"], environment: ["COLUMNS": "200"])
                #expect(help.status == 0, "\(block): `\(command.program) \(command.subcommands.joined(separator: " ")) --help` failed")
                for option in command.options {
                    #expect(help.stdout.contains(option), "\(block): `\(line)`: \(option) is not an option of \(command.program) \(command.subcommands.joined(separator: " "))")
                }
            }
        }
    }
}
