import Testing
@testable import WardenCore

@Suite struct JSONParsingTests {
    @Test func parsesNestedValues() throws {
        let value = try JSONValue.parse(#"{"a":[1,2.5,"x",true,null],"b":{"c":-3}}"#)
        #expect(value["a"] == [1, 2.5, "x", true, nil])
        #expect(value["b"]?["c"] == .int(-3))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\u{01}\"", "[1] 2", "nul", "\"\\ud800\"", "{\"a\":1,}",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        let bytes: [UInt8] = [UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")]
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        // Also between escapes (the path that collects bytes and validates once at the end).
        let escaped: [UInt8] = Array(#""a\n"#.utf8) + [0xC3, 0x28] + Array(#"\tb""#.utf8)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(escaped) }
    }

    /// The parser's own UTF-8 check against the standard library's, on every two-byte sequence
    /// and on three- and four-byte ones built from each lead byte and the edges of every
    /// continuation range; after 0, 7 and 9 ASCII bytes (the check takes eight at a time) and
    /// on the path for strings with escapes.
    @Test func utf8CheckAgreesWithTheStandardLibrary() throws {
        // Bytes that are not JSON syntax inside a string, so only their UTF-8 decides.
        let plain = (UInt8(0x20)...0xFF).filter { $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        let edges: [UInt8] = [0x20, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]
        var sequences: [[UInt8]] = []
        for a in plain { for b in plain { sequences.append([a, b]) } }
        for lead in UInt8(0xE0)...0xEF { for b in edges { for c in edges { sequences.append([lead, b, c]) } } }
        for lead in UInt8(0xF0)...0xFF { for b in edges { for c in edges { for d in edges { sequences.append([lead, b, c, d]) } } } }
        var disagreements: [String] = []
        for sequence in sequences {
            let expected = String(validating: sequence, as: UTF8.self)
            for prefix in [[], Array("abcdefg".utf8), Array("abcdefghi".utf8), Array(#"\n"#.utf8)] {
                let text = [UInt8(ascii: "\"")] + prefix + sequence + [UInt8(ascii: "\"")]
                let parsed = (try? JSONValue.parse(text))?.stringValue
                let wanted = expected.map { (prefix.first == UInt8(ascii: "\\") ? "\n" : String(decoding: prefix, as: UTF8.self)) + $0 }
                if parsed != wanted { disagreements.append("\(prefix.count) + \(sequence.map { String($0, radix: 16) })") }
            }
        }
        let judgedOtherwise = disagreements.count
        #expect(judgedOtherwise == 0, "first: \(disagreements.prefix(5))")
        #expect(sequences.count > 50_000)
    }

    @Test func decodesEscapesAroundMultibyteText() throws {
        #expect(try JSONValue.parse(#""é\n✓\t\u00e9\"x\\/\/😀\r""#) == .string("é\n✓\té\"x\\//😀\r"))
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
    }
}

@Suite struct CanonicalJSONTests {
    @Test func sortsKeysAndDropsWhitespace() throws {
        let value = try JSONValue.parse(#"{ "b": 1, "a": { "d": [1, 2], "c": "x" } }"#)
        #expect(value.canonicalString == #"{"a":{"c":"x","d":[1,2]},"b":1}"#)
    }

    @Test func escapesOnlyWhatMustBeEscaped() {
        let value: JSONValue = .string("q\"b\\n\nt\tc\u{01}é/")
        #expect(value.canonicalString == #""q\"b\\n\nt\tc\u0001é/""#)
    }

    @Test func writesIntegralDoublesAsIntegers() {
        #expect(JSONValue.double(3.0).canonicalString == "3")
        #expect(JSONValue.double(0.5).canonicalString == "0.5")
        #expect(JSONValue.int(-7).canonicalString == "-7")
    }

    @Test func equalValuesGiveEqualBytes() throws {
        let a = try JSONValue.parse(#"{"x":1,"y":[true,{"k":"v","j":null}]}"#)
        let b = try JSONValue.parse(#"{"y":[true,{"j":null,"k":"v"}],"x":1.0}"#)
        #expect(a.canonicalBytes == b.canonicalBytes)
    }

    @Test func roundTripsThroughTheParser() throws {
        let value: JSONValue = ["text": "line\nnext \u{7f} ✓", "n": 12345678901, "f": 1.25, "list": [nil, false]]
        #expect(try JSONValue.parse(value.canonicalBytes) == value)
    }
}
