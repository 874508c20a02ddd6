import Foundation
import Testing
import WardenBroker
import WardenCore
import WardenSandbox
import WardenScenario

let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/bad-files"

/// What a broken file's first line says its error must be: `# expect: line=N field=F text=T`.
struct Expectation {
    var line: Int?
    var field: String?
    var text: String?

    init(file: String) throws {
        let bytes = FileManager.default.contents(atPath: file) ?? Data()
        let first = String(decoding: bytes, as: UTF8.self).split(separator: "\n", maxSplits: 1).first ?? ""
        guard first.hasPrefix("# expect:") else { throw ExpectationMissing(file: file) }
        let spec = first.dropFirst("# expect:".count).trimmingCharacters(in: .whitespaces)
        for part in spec.split(separator: " ", maxSplits: 0) where part.hasPrefix("line=") { line = Int(part.dropFirst(5)) }
        if let range = spec.range(of: "field=") { field = String(spec[range.upperBound...].split(separator: " ").first ?? "") }
        if let range = spec.range(of: "text=") { text = String(spec[range.upperBound...]) }
    }
}

struct ExpectationMissing: Error { var file: String }

func corpusFiles(_ kind: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: corpus + "/" + kind)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
}

/// The error a loader gave, in one shape: file, line, field, message.
struct Reported {
    var file: String
    var line: Int?
    var field: String
    var message: String
}

func check(_ kind: String, _ name: String, _ load: (String) throws -> Void) throws {
    let path = corpus + "/" + kind + "/" + name
    let expected = try Expectation(file: path)
    var reported: Reported?
    do {
        try load(path)
    } catch let error as ConfigError {
        reported = Reported(file: error.file, line: error.line, field: error.field, message: error.message)
    } catch let error as SandboxError {
        // The seccomp compiler names the place as FILE:LINE at the start of its message.
        let place = error.message.split(separator: ":", maxSplits: 2)
        reported = Reported(file: place.count > 1 ? String(place[0]) : "", line: place.count > 1 ? Int(place[1]) : nil, field: "",
                            message: error.message)
    } catch let error as BrokerError {
        Issue.record("\(kind)/\(name): a broker error without a place: \(error)")
        return
    }
    guard let reported else {
        Issue.record("\(kind)/\(name) was accepted")
        return
    }
    #expect(reported.file == path, "\(kind)/\(name): names \(reported.file)")
    #expect(reported.line != nil, "\(kind)/\(name): no line in '\(reported.message)'")
    if let line = expected.line { #expect(reported.line == line, "\(kind)/\(name): line \(reported.line ?? -1), not \(line)") }
    if let field = expected.field { #expect(reported.field == field, "\(kind)/\(name): field '\(reported.field)', not '\(field)'") }
    if let text = expected.text, !text.isEmpty { #expect(reported.message.contains(text) || reported.field.contains(text), "\(kind)/\(name): '\(reported.message)'") }
}

/// Every broken file of the corpus is refused with its file, its line and (where the file's
/// structure has one) the field, and a message that names what is wrong.
@Suite struct BadFileTests {
    @Test(arguments: corpusFiles("scenario"))
    func scenario(_ name: String) throws { try check("scenario", name) { path in _ = try Scenario.load(contentsOf: path) } }

    @Test(arguments: corpusFiles("seccomp"))
    func seccompPolicy(_ name: String) throws {
        try check("seccomp", name) { path in _ = try SeccompCompiler.compile(try SeccompPolicy.load(contentsOf: path), supervised: true) }
    }

    @Test(arguments: corpusFiles("sandbox"))
    func sandboxPolicy(_ name: String) throws { try check("sandbox", name) { path in _ = try SandboxPolicy.load(contentsOf: path) } }

    @Test(arguments: corpusFiles("broker"))
    func brokerPolicy(_ name: String) throws { try check("broker", name) { path in _ = try BrokerPolicy.load(contentsOf: path, name: "bad") } }

    @Test func theCorpusIsThere() {
        for kind in ["scenario", "seccomp", "sandbox", "broker"] { #expect(corpusFiles(kind).count >= 4, "\(kind)") }
    }
}
