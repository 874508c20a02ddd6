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
