import Foundation
import Testing
import WardenWire
@testable import WardenVocabulary

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct JSONValueCodingTests {
    struct Inner: Codable, Equatable {
        var name: String
        var sizes: [Int64]
    }
    struct Outer: Codable, Equatable {
        var count: Int
        var ratio: Double
        var flag: Bool
        var missing: String?
        var inner: Inner
        var map: [String: Int]
        var open: JSONValue
    }

    @Test func roundTripsKeepingIntegersIntegersAndLeavingNilsOut() throws {
        let value = Outer(count: 3, ratio: 0.5, flag: true, missing: nil, inner: Inner(name: "x", sizes: [1, 2]), map: ["a": 1],
                          open: ["k": [1, "two"]])
        let json = try JSONValue.encoding(value)
        #expect(json.canonicalString == #"{"count":3,"flag":true,"inner":{"name":"x","sizes":[1,2]},"map":{"a":1},"open":{"k":[1,"two"]},"ratio":0.5}"#)
        #expect(try json.decoding(Outer.self) == value)
    }

    @Test func decodingErrorsSayWhere() {
        let json: JSONValue = ["count": 3, "ratio": 1, "flag": true, "inner": ["name": "x", "sizes": [1, "two"]], "map": [:], "open": .null]
        #expect(throws: JSONCodingError.self) { try json.decoding(Outer.self) }
        do { _ = try json.decoding(Outer.self) } catch {
            #expect(error.description.contains("inner.sizes[1]"), "\(error)")
        }
    }
}

@Suite struct VocabularyTests {
    @Test func everyKindHasItsOwnPayloadType() {
        for kind in AuditKind.allCases {
            #expect(kind.payloadType.kind == kind, "\(kind)")
        }
        #expect(Set(AuditKind.allCases.map(\.rawValue)).count == AuditKind.allCases.count)
    }

    /// Events as earlier versions wrote them (explicit nulls, fields since added absent) decode.
    @Test func eventsOfOlderLogsDecode() throws {
        let runStart: JSONValue = [
            "agent_command": .null, "agent_models": [:], "agents": ["agent-1"], "background": [], "caller": ["gid": 0, "pid": 9, "uid": 0],
            "cell": ["monitoring": "monitored"], "cell_name": "monitoring=monitored", "limits": ["seconds": 120, "turns": 30],
            "model": "scripted/compliant", "model_endpoint": .null, "scenario": "s", "scenario_path": "s.yaml", "suite": .null, "trial": .null]
        let decoded = try RunStart.decoded(from: runStart)
        #expect(decoded.agents == ["agent-1"] && decoded.suite == nil && decoded.limits?.turns == 30)
        let syscall: JSONValue = ["decision": "allow", "pid": 12, "supervised": true, "syscall": "unlinkat", "paths": ["/srv/hosts/a/b"], "flags": "0x0"]
        let event = try SyscallEvent.decoded(from: syscall)
        #expect(event.paths == ["/srv/hosts/a/b"] && event.details["flags"] == "0x0" && event.resolution == nil)
        #expect(try event.json() == syscall)
        let result: JSONValue = ["call": 7, "is_error": false, "text": "ok", "tool": "read_file"]
        #expect(try ToolResult.decoded(from: result).refusal == nil)
    }
}

/// Kinds, tool names and error codes are spelled once, here: no other source file may spell one
/// as a literal (it names the vocabulary's constant instead).
@Suite struct SpellingTests {
    static var literals: [String: String] {
        var names: [String: String] = [:]
        for kind in AuditKind.allCases { names["\"\(kind.rawValue)\""] = "AuditKind.\(kind)" }
        for tool in ToolName.allCases { names["\"\(tool.rawValue)\""] = "ToolName.\(tool)" }
        for code in [ErrorCode.modelFailed, ErrorCode.limitReached, ErrorCode.modelReplyUnparseable, ErrorCode.permissionDenied,
                     ErrorCode.daemonFailure, ErrorCode.parseError, ErrorCode.invalidRequest, ErrorCode.methodNotFound,
                     ErrorCode.invalidParams, ErrorCode.internalError] {
            names[String(code)] = "ErrorCode"
        }
        return names
    }

    /// The vocabulary names a line of code spells as literals (comments aside).
    static func spelled(in line: Substring, literals: [String: String]) -> [(literal: String, name: String)] {
        let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        var found: [(String, String)] = []
        for (literal, name) in literals where code.contains(literal) {
            // A code number is a literal only where it stands alone, not inside a longer number.
            if literal.hasPrefix("-"), code.range(of: #"(?<![\d])"# + literal + #"(?![\d])"#, options: .regularExpression) == nil { continue }
            // A plain word ("gate", "done", "bash") is also a JSON field or a program's name: it
            // is the vocabulary's only where it is compared with, or given as, a kind or tool.
            if plainWord(literal),
               code.range(of: #"\b(kind|tool|tools|name)"?\s*(==|!=|:|\.contains\(|\()\s*"# + NSRegularExpression.escapedPattern(for: literal),
                          options: .regularExpression) == nil { continue }
            found.append((literal, name))
        }
        return found
    }

    /// A name that is an ordinary word too: no `.` or `_` in it.
    static func plainWord(_ literal: String) -> Bool { literal.hasPrefix("\"") && !literal.contains(".") && !literal.contains("_") }

    @Test func noSourceSpellsAVocabularyNameAsALiteral() throws {
        let sources = repositoryRoot + "/Sources"
        let enumerator = try #require(FileManager.default.enumerator(atPath: sources))
        var found: [String] = []
        let literals = Self.literals
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".swift"), !relative.hasPrefix("WardenVocabulary/") else { continue }
            let text = try String(contentsOfFile: sources + "/" + relative, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for (literal, name) in Self.spelled(in: line, literals: literals) {
                    found.append("\(relative):\(number + 1): \(literal) (use \(name))")
                }
            }
        }
        #expect(found.isEmpty, "vocabulary spelled as literals:\n\(found.sorted().joined(separator: "\n"))")
    }

    @Test func theScanFindsWhatItShouldAndOnlyThat() {
        let literals = Self.literals
        func names(_ line: Substring) -> [String] { Self.spelled(in: line, literals: literals).map(\.literal).sorted() }
        #expect(names(#"guard event.kind == "tool.call" else { return }"#) == [#""tool.call""#])
        #expect(names(#"let call = ["name": "read_file"]"#) == [#""read_file""#])
        #expect(names("if remote.code == -32001 { return }") == ["-32001"])
        #expect(names(#"if agent.tools.contains("bash") { }"#) == [#""bash""#])
        #expect(names(#"if call.name == "done" { }"#) == [#""done""#])
        // Not the vocabulary: a field named like a kind, a longer number, a comment.
        #expect(names(#"let call: JSONValue = ["tool": "bash"]"#) == [#""bash""#])
        #expect(names(#"let params = ["gate": .bool(gate), "done": .int(3)]"#).isEmpty)
        #expect(names(#"for (key, value) in [("kind", kind), ("tool", tool), ("syscall", syscall)] {}"#).isEmpty)
        #expect(names("let big = -320011").isEmpty)
        #expect(names(#"x = 1 // the "tool.call" events"#).isEmpty)
    }
}
