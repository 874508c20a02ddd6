import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// Reads what a notifying process's pointer arguments point at, and resolves its relative paths
/// through /proc. Everything read is a copy taken at notification time; the process may change
/// the original afterwards, which is why no decision is ever based on it.
struct ProcessMemory {
    let pid: pid_t

    static let maxString = 4096

    /// A NUL-terminated string at `address`, at most `maxString` bytes (marked when cut).
    func string(at address: UInt64) -> String? {
        guard address != 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: Self.maxString)
        let n = buffer.withUnsafeMutableBytes { warden_read_process_memory(pid, address, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let bytes = buffer[0..<n]
        if let end = bytes.firstIndex(of: 0) { return String(decoding: bytes[..<end], as: UTF8.self) }
        return String(decoding: bytes, as: UTF8.self) + "…"
    }

    func bytes(at address: UInt64, count: Int) -> [UInt8]? {
        guard address != 0, count > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { warden_read_process_memory(pid, address, $0.baseAddress, $0.count) }
        return n == count ? buffer : nil
    }

    func int64s(at address: UInt64, count: Int) -> [Int64]? {
        guard let raw = bytes(at: address, count: count * 8) else { return nil }
        return (0..<count).map { i in raw[(i * 8)..<(i * 8 + 8)].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) } }
    }

    /// A NULL-terminated array of strings (argv), at most `limit` entries.
    func stringArray(at address: UInt64, limit: Int = 64) -> [String]? {
        guard address != 0 else { return nil }
        var result: [String] = []
        for index in 0..<limit {
            guard let pointer = int64s(at: address + UInt64(index * 8), count: 1)?.first else { return result }
            if pointer == 0 { return result }
            result.append(string(at: UInt64(bitPattern: pointer)) ?? "?")
        }
        result.append("…")
        return result
    }

    /// `path` as the process sees it: absolute, or joined to its working directory or `dirfd`.
    func resolve(_ path: String, dirfd: Int64?) -> String {
        if path.hasPrefix("/") { return path }
        let base: String?
        if let dirfd, dirfd != Int64(AT_FDCWD) { base = link("/proc/\(pid)/fd/\(dirfd)") } else { base = link("/proc/\(pid)/cwd") }
        guard let base else { return path }
        if path.isEmpty { return base }
        return (base == "/" ? "" : base) + "/" + path
    }

    /// What an open file descriptor of the process refers to.
    func fdPath(_ fd: Int64) -> String? { link("/proc/\(pid)/fd/\(fd)") }

    private func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
