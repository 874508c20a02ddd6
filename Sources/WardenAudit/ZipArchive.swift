/// A zip archive of stored (uncompressed) members, as `.eval` logs are read by Inspect and any
/// zip reader: local headers, the central directory, and its end record. Sizes stay under
/// 4 GiB each (no ZIP64); an export that large is refused by its caller's memory first.
struct ZipArchive {
    private(set) var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0

    mutating func add(_ name: String, _ data: [UInt8]) {
        let nameBytes = Array(name.utf8)
        let crc = Self.crc32(data)
        let offset = UInt32(bytes.count)
        // Local file header.
        append32(&bytes, 0x0403_4b50)
        append16(&bytes, 20)            // version needed
        append16(&bytes, 0x0800)        // flags: UTF-8 names
        append16(&bytes, 0)             // stored
        append16(&bytes, 0); append16(&bytes, 0x21)  // time 00:00, date 1980-01-01
        append32(&bytes, crc)
        append32(&bytes, UInt32(data.count)); append32(&bytes, UInt32(data.count))
        append16(&bytes, UInt16(nameBytes.count)); append16(&bytes, 0)
        bytes += nameBytes
        bytes += data
        // Its central directory entry.
        append32(&central, 0x0201_4b50)
        append16(&central, 20); append16(&central, 20)
        append16(&central, 0x0800); append16(&central, 0)
        append16(&central, 0); append16(&central, 0x21)
        append32(&central, crc)
        append32(&central, UInt32(data.count)); append32(&central, UInt32(data.count))
        append16(&central, UInt16(nameBytes.count)); append16(&central, 0); append16(&central, 0)
        append16(&central, 0); append16(&central, 0)
        append32(&central, 0o100644 << 16)  // a regular file, rw-r--r--
        append32(&central, offset)
        central += nameBytes
        count += 1
    }

    /// The archive: members, central directory, end record.
    var archive: [UInt8] {
        var out = bytes
        let start = UInt32(out.count)
        out += central
        append32(&out, 0x0605_4b50)
        append16(&out, 0); append16(&out, 0)
        append16(&out, UInt16(count)); append16(&out, UInt16(count))
        append32(&out, UInt32(central.count)); append32(&out, start)
        append16(&out, 0)
        return out
    }

    private func append16(_ out: inout [UInt8], _ value: UInt16) {
        out += [UInt8(value & 0xff), UInt8(value >> 8)]
    }

    private func append32(_ out: inout [UInt8], _ value: UInt32) {
        out += [UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)]
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var c = UInt32(index)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
