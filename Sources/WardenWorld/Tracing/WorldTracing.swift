import Glibc
import WardenScenario

extension World {
    /// What each file (`HOST/PATH` keys, as snapshots spell them) holds of the labelled contents
    /// (`ByteTrace`), read on the tracer thread with the agent's rights (and
    /// CAP_DAC_READ_SEARCH where the process has it). A file that cannot be read, or whose
    /// apparent size is over `world_size`, is not traced. Decoding is capped at 4 × world_size
    /// per file.
    public func trace(_ keys: [String], fingerprints: Fingerprints) async -> [String: ByteTrace.Result] {
        guard !fingerprints.isEmpty, !keys.isEmpty else { return [:] }
        let cap = sizeLimit.multipliedReportingOverflow(by: 4).overflow ? .max : sizeLimit * 4
        return (try? await tracer.run { () throws(WorldError) -> [String: ByteTrace.Result] in
            var results: [String: ByteTrace.Result] = [:]
            for key in keys {
                guard let bytes = self.read(key: key) else { continue }
                results[key] = ByteTrace.trace(bytes, fingerprints: fingerprints, cap: cap)
            }
            return results
        }) ?? [:]
    }

    /// The content of the file at `key`, on a world thread; nil if it is not a readable
    /// regular file within the world's size.
    func read(key: String) -> [UInt8]? {
        guard let slash = key.firstIndex(of: "/"), let path = WorldKey.unspell(String(key[key.index(after: slash)...])) else { return nil }
        let host = String(key[..<slash])
        guard let hostName = Component(Array(host.utf8)), let hosts = Component(Array("hosts".utf8)) else { return nil }
        var parts = [hosts, hostName]
        for part in path.split(separator: 0x2F, omittingEmptySubsequences: false) {
            guard let component = Component(part) else { return nil }
            parts.append(component)
        }
        let fd = Beneath.open(root.fd, parts, flags: O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, UInt64(max(0, info.st_size)) <= sizeLimit else { return nil }
        return try? FileCopy.read(fd, upTo: Int(info.st_size), describing: key)
    }
}
