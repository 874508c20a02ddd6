import CWardenCodecs

/// Follows labelled contents (`Fingerprints`) into a file, however it holds them: as they are
/// (a whole copy, a part of a split, a tar or stored zip member, any contiguous 4 KiB), inside
/// gzip, xz, bzip2 or zip compression, or written out as base64 or hex text at any alignment —
/// and these nested, up to `depth` levels. Decoding stops at `cap` bytes produced for the file
/// (the caller gives 4 × world_size), and says so: a decompression bomb costs a bounded amount.
/// Encrypted bytes are not followed.
public final class ByteTrace {
    public struct Result: Sendable, Equatable {
        /// Each label found, with how it was held (`bytes`, `gzip`, `zip/deflate`, `base64`, `gzip/base64`, …).
        public var found: [String: String] = [:]
        /// Decoding reached the cap before the end of what the file held.
        public var capped = false
    }

    static let depth = 3
    /// Decoded bytes kept in memory to look inside them again (nested archives, encoded text).
    static let kept = 64 << 20
    /// Runs of base64 or hex text shorter than a window's worth are not decoded.
    static let base64Run = (Fingerprints.window * 4 + 2) / 3
    static let hexRun = Fingerprints.window * 2

    let fingerprints: Fingerprints
    private var budget: UInt64
    private var result = Result()

    init(fingerprints: Fingerprints, cap: UInt64) {
        self.fingerprints = fingerprints
        self.budget = cap
    }

    /// What `bytes` (a file's content) hold of the labelled contents.
    public static func trace(_ bytes: [UInt8], fingerprints: Fingerprints, cap: UInt64) -> Result {
        guard !fingerprints.isEmpty else { return Result() }
        let trace = ByteTrace(fingerprints: fingerprints, cap: cap)
        trace.look(into: bytes, how: [], depth: 0)
        return trace.result
    }

    private var done: Bool { result.found.count == fingerprints.labels.count }

    private func note(_ scanner: WindowScanner, _ how: [String]) {
        for label in scanner.found {
            let name = fingerprints.labels[Int(label)]
            if result.found[name] == nil { result.found[name] = how.isEmpty ? "bytes" : how.joined(separator: "/") }
        }
    }

    private func look(into bytes: [UInt8], how: [String], depth: Int) {
        var scanner = WindowScanner(fingerprints)
        bytes.withUnsafeBytes { scanner.feed($0) }
        note(scanner, how)
        guard depth < Self.depth, !done else { return }
        if let codec = Self.codec(of: bytes) {
            decode(bytes, codec: codec.codec, how: how + [codec.name], depth: depth)
        }
        if Self.isZip(bytes) { lookIntoZip(bytes, how: how, depth: depth) }
        lookIntoText(bytes, how: how, depth: depth)
    }

    /// Decodes a compressed stream, scanning all it produces and looking again into its start.
    private func decode(_ bytes: [UInt8], codec: Int32, how: [String], depth: Int) {
        guard budget > 0 else {
            result.capped = true
            return
        }
        guard let decoder = warden_decoder_new(codec, budget) else { return }
        defer { warden_decoder_free(decoder) }
        final class Sink {
            var scanner: WindowScanner
            var kept: [UInt8] = []
            init(_ scanner: WindowScanner) { self.scanner = scanner }
        }
        let sink = Sink(WindowScanner(fingerprints))
        var produced: UInt64 = 0
        let status = bytes.withUnsafeBufferPointer { input in
            withExtendedLifetime(sink) {
                warden_decoder_feed(decoder, input.baseAddress, input.count, { context, data, length in
                    guard let context, let data else { return 0 }
                    let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                    let chunk = UnsafeRawBufferPointer(start: data, count: length)
                    sink.scanner.feed(chunk)
                    if sink.kept.count < ByteTrace.kept { sink.kept += chunk.prefix(ByteTrace.kept - sink.kept.count) }
                    return sink.scanner.foundAll ? 1 : 0
                }, Unmanaged.passUnretained(sink).toOpaque(), &produced)
            }
        }
        budget -= min(budget, produced)
        if status == Int32(WARDEN_CODEC_CAPPED.rawValue) { result.capped = true }
        note(sink.scanner, how)
        guard !done, !sink.kept.isEmpty else { return }
        look(into: sink.kept, how: how, depth: depth + 1)
    }

    static func codec(of bytes: [UInt8]) -> (codec: Int32, name: String)? {
        if bytes.starts(with: [0x1F, 0x8B]) { return (Int32(WARDEN_CODEC_GZIP.rawValue), "gzip") }
        if bytes.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || bytes.starts(with: [0x5D, 0x00, 0x00]) {
            return (Int32(WARDEN_CODEC_XZ.rawValue), "xz")
        }
        if bytes.starts(with: Array("BZh".utf8)) { return (Int32(WARDEN_CODEC_BZIP2.rawValue), "bzip2") }
        return nil
    }

    static func isZip(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) }

    /// Each member of a zip archive, by its local headers: stored ones are scanned as they are
    /// (the raw scan has seen them), deflated ones decoded.
    private func lookIntoZip(_ bytes: [UInt8], how: [String], depth: Int) {
        var at = 0
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        while at + 30 <= bytes.count, bytes[at] == 0x50, bytes[at + 1] == 0x4B, bytes[at + 2] == 0x03, bytes[at + 3] == 0x04, !done {
            let method = u16(at + 8)
            let compressed = u32(at + 18)
            let start = at + 30 + u16(at + 26) + u16(at + 28)
            guard start <= bytes.count else { return }
            // With a data descriptor (flag bit 3) the size is unknown here: the member runs to its stream's end.
            let end = compressed > 0 ? min(bytes.count, start + compressed) : bytes.count
            let member = Array(bytes[start..<end])
            if method == 8 { decode(member, codec: Int32(WARDEN_CODEC_DEFLATE.rawValue), how: how + ["zip"], depth: depth) }
            else if method == 0 { look(into: member, how: how + ["zip"], depth: depth + 1) }
            guard compressed > 0 else { return }
            at = end
        }
    }

    /// Base64 and hex runs in text, decoded at every alignment.
    private func lookIntoText(_ bytes: [UInt8], how: [String], depth: Int) {
        for run in Self.runs(in: bytes, isDigit: Self.isBase64, minimum: Self.base64Run) where !done {
            for shift in 0..<4 where run.count - shift >= Self.base64Run {
                look(into: Self.base64(run[shift...]), how: how + ["base64"], depth: depth + 1)
            }
        }
        for run in Self.runs(in: bytes, isDigit: Self.isHex, minimum: Self.hexRun) where !done {
            for shift in 0..<2 where run.count - shift >= Self.hexRun {
                look(into: Self.hex(run[shift...]), how: how + ["hex"], depth: depth + 1)
            }
        }
    }

    static func isBase64(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2B || byte == 0x2F
            || byte == 0x2D || byte == 0x5F
    }

    static func isHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte) }

    /// Maximal runs of `isDigit` bytes (line breaks and spaces inside a run skipped), at least
    /// `minimum` digits long.
    static func runs(in bytes: [UInt8], isDigit: (UInt8) -> Bool, minimum: Int) -> [[UInt8]] {
        var runs: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes {
            if isDigit(byte) {
                current.append(byte)
            } else if byte == 0x0A || byte == 0x0D || byte == 0x20 || byte == 0x3D {
                continue
            } else {
                if current.count >= minimum { runs.append(current) }
                current.removeAll(keepingCapacity: true)
            }
        }
        if current.count >= minimum { runs.append(current) }
        return runs
    }

    static func base64(_ digits: ArraySlice<UInt8>) -> [UInt8] {
        func value(_ byte: UInt8) -> UInt32 {
            switch byte {
            case 0x41...0x5A: UInt32(byte - 0x41)
            case 0x61...0x7A: UInt32(byte - 0x61 + 26)
            case 0x30...0x39: UInt32(byte - 0x30 + 52)
            case 0x2B, 0x2D: 62
            default: 63
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for digit in digits {
            accumulator = accumulator << 6 | value(digit)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }

    static func hex(_ digits: ArraySlice<UInt8>) -> [UInt8] {
        func value(_ byte: UInt8) -> UInt8 {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x61...0x66: byte - 0x61 + 10
            default: byte - 0x41 + 10
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = digits.startIndex
        while index + 1 < digits.endIndex {
            out.append(value(digits[index]) << 4 | value(digits[index + 1]))
            index += 2
        }
        return out
    }
}
