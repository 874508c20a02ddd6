import WardenCore

/// Hostile JSON-RPC lines for fuzzing the broker (in-process in WardenBrokerTests, from inside a
/// real sandbox in EndToEndTests): valid messages and seeded mutations of them — malformed JSON,
/// wrong types, huge strings and arrays, deep nesting, invalid UTF-8, control characters.
public enum HostileMessages {
    /// Valid messages to start mutating from.
    public static let corpus: [String] = [
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz"}}}"#,
        #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_files","arguments":{"server":"10.0.12.45"}}}"#,
        #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"read_file","arguments":{"server":"10.0.12.45","path":"../../etc/passwd"}}}"#,
        #"{"jsonrpc":"2.0","id":5,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":6,"method":"warden/generate","params":{"messages":[{"role":"user","content":"hi"}]}}"#,
    ]

    public static func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        switch random.next() % 10 {
        case 0:  // flip bytes
            for _ in 0..<(1 + Int(random.next() % 8)) where !bytes.isEmpty {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
        case 1:  // truncate
            bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
        case 2:  // invalid UTF-8 in a string
            bytes.insert(contentsOf: [0xC3, 0x28, 0xFF, 0xFE], at: Int(random.next() % UInt64(bytes.count + 1)))
        case 3:  // deep nesting
            let depth = 100 + Int(random.next() % 5000)
            bytes = Array(#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":"#.utf8) + Array(repeating: UInt8(ascii: "["), count: depth)
                + Array(repeating: UInt8(ascii: "]"), count: depth) + [UInt8(ascii: "}")]
        case 4:  // a huge string argument
            let size = 1000 + Int(random.next() % 400_000)
            bytes = Array(#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"read_file","arguments":{"server":""#.utf8)
                + Array(repeating: UInt8(ascii: "a"), count: size) + Array(#"","path":"x"}}}"#.utf8)
        case 5:  // a huge array
            let count = 1000 + Int(random.next() % 50_000)
            bytes = Array(#"{"jsonrpc":"2.0","id":11,"method":"tools/list","params":{"x":["#.utf8)
                + Array(Array(repeating: "1,", count: count).joined().utf8) + Array("1]}}".utf8)
        case 6:  // wrong types in the envelope
            let variants = [#"{"jsonrpc":2,"id":{},"method":7}"#, #"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
                            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
                            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5,"arguments":"x"}}"#, "[]", "null", "1e999"]
            bytes = Array(variants[Int(random.next() % UInt64(variants.count))].utf8)
        case 7:  // unknown methods and tools
            bytes = Array(#"{"jsonrpc":"2.0","id":12,"method":"\#(random.next())","params":{"name":"rm -rf /"}}"#.utf8)
        case 8:  // control characters and NULs
            bytes.insert(contentsOf: [0, 1, 0x1B, 0x7F], at: Int(random.next() % UInt64(bytes.count + 1)))
        default:  // splice two messages
            bytes += input.prefix(Int(random.next() % UInt64(input.count + 1)))
        }
        return bytes
    }
}
