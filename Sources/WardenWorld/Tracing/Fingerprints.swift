/// Every 4 KiB window of the labelled contents worth following (weights and other large files),
/// indexed by a rolling hash, so any contiguous 4 KiB of them is found inside another file at
/// any offset — a whole copy, a part of a split, a member of an archive, a decoded text. A hash
/// hit is confirmed by comparing the bytes, so a finding is never a collision.
///
/// Contents up to `everyOffsetUpTo` are indexed at every offset; a larger one every
/// `window` bytes, which finds any contiguous 8 KiB of it.
public final class Fingerprints: Sendable {
    public static let window = 4096
    static let everyOffsetUpTo = 16 << 20
    static let base: UInt64 = 0x100000001b3
    /// base^(window - 1), what the byte leaving the window contributed.
    static let outgoing: UInt64 = {
        var power: UInt64 = 1
        for _ in 0..<(window - 1) { power = power &* base }
        return power
    }()

    public let labels: [String]
    let contents: [[UInt8]]
    // Open addressing: a key of 0 is an empty slot (a real hash of 0 is stored as 1).
    private let keys: [UInt64]
    private let places: [(label: Int32, offset: Int32)]
    private let mask: Int

    /// The labelled contents at least one window long.
    public init(_ labelled: [String: [UInt8]]) {
        let chosen = labelled.filter { $0.value.count >= Self.window }.sorted { $0.key < $1.key }
        labels = chosen.map(\.key)
        contents = chosen.map(\.value)
        var count = 0
        for content in contents { count += max(0, content.count - Self.window + 1) / Self.step(content) + 1 }
        var size = 16
        while size < count * 2 { size <<= 1 }
        var keys = [UInt64](repeating: 0, count: size)
        var places = [(label: Int32, offset: Int32)](repeating: (0, 0), count: size)
        let mask = size - 1
        for (label, content) in contents.enumerated() {
            let step = Self.step(content)
            var hash: UInt64 = 0
            for index in 0..<content.count {
                if index >= Self.window { hash = hash &- UInt64(content[index - Self.window]) &* Self.outgoing }
                hash = hash &* Self.base &+ UInt64(content[index])
                let start = index - Self.window + 1
                guard start >= 0, start % step == 0 else { continue }
                let key = hash == 0 ? 1 : hash
                var slot = Self.slot(key, mask)
                while keys[slot] != 0 && keys[slot] != key { slot = (slot + 1) & mask }
                if keys[slot] == 0 {
                    keys[slot] = key
                    places[slot] = (Int32(label), Int32(start))
                }
            }
        }
        self.keys = keys
        self.places = places
        self.mask = mask
    }

    public var isEmpty: Bool { labels.isEmpty }

    /// Every how many offsets a content's windows are indexed.
    static func step(_ content: [UInt8]) -> Int { content.count <= everyOffsetUpTo ? 1 : window }

    @inline(__always)
    static func slot(_ key: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 17) & mask }

    /// Where a window with this hash lies in a labelled content, if anywhere.
    @inline(__always)
    func place(of hash: UInt64) -> (label: Int32, offset: Int32)? {
        let key = hash == 0 ? 1 : hash
        var slot = Self.slot(key, mask)
        while keys[slot] != 0 {
            if keys[slot] == key { return places[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }
}

/// A stream's last 4 KiB, hashed as it goes: which labelled contents it has held a window of.
struct WindowScanner {
    let fingerprints: Fingerprints
    private var ring = [UInt8](repeating: 0, count: Fingerprints.window)
    private var position = 0
    private var seen = 0
    private var hash: UInt64 = 0
    private(set) var found: Set<Int32> = []

    init(_ fingerprints: Fingerprints) { self.fingerprints = fingerprints }

    var foundAll: Bool { found.count == fingerprints.labels.count }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        let window = Fingerprints.window
        for byte in bytes {
            if seen >= window { hash = hash &- UInt64(ring[position]) &* Fingerprints.outgoing }
            ring[position] = byte
            position = (position + 1) % window
            hash = hash &* Fingerprints.base &+ UInt64(byte)
            seen += 1
            guard seen >= window, let place = fingerprints.place(of: hash), !found.contains(place.label), confirm(place) else { continue }
            found.insert(place.label)
        }
    }

    /// Whether the window held is the labelled content's bytes at that place.
    private func confirm(_ place: (label: Int32, offset: Int32)) -> Bool {
        let content = fingerprints.contents[Int(place.label)]
        let offset = Int(place.offset)
        let window = Fingerprints.window
        for index in 0..<window where ring[(position + index) % window] != content[offset + index] { return false }
        return true
    }
}
