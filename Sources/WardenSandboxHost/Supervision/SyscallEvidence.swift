import Foundation
import Glibc
import WardenCore
import WardenSandbox

/// The arguments of a supervised or denied syscall, decoded for the audit log: paths resolved
/// as the process sees them, times for the utime family, argv for exec, the socket path of a
/// connect, the target of a signal.
enum SyscallEvidence {
    private enum Argument {
        case path(Int, dirfd: Int?)
        case fd(Int)
        case int(Int, String)
        case octal(Int, String)
        case argv(Int)
        case timespecs(Int)
        case timevals(Int)
        case utimbuf(Int)
        case sockaddr(Int, length: Int)
        case text(Int, String)
    }

    private static let shapes: [String: [Argument]] = [
        "unlink": [.path(0, dirfd: nil)], "rmdir": [.path(0, dirfd: nil)],
        "unlinkat": [.path(1, dirfd: 0), .int(2, "flags")],
        "rename": [.path(0, dirfd: nil), .path(1, dirfd: nil)],
        "renameat": [.path(1, dirfd: 0), .path(3, dirfd: 2)],
        "renameat2": [.path(1, dirfd: 0), .path(3, dirfd: 2), .int(4, "flags")],
        "utimensat": [.path(1, dirfd: 0), .timespecs(2)],
        "utimes": [.path(0, dirfd: nil), .timevals(1)], "futimesat": [.path(1, dirfd: 0), .timevals(2)],
        "utime": [.path(0, dirfd: nil), .utimbuf(1)],
        "chmod": [.path(0, dirfd: nil), .octal(1, "mode")], "fchmod": [.fd(0), .octal(1, "mode")],
        "fchmodat": [.path(1, dirfd: 0), .octal(2, "mode")],
        "truncate": [.path(0, dirfd: nil), .int(1, "length")],
        "kill": [.int(0, "target_pid"), .int(1, "signal")], "tkill": [.int(0, "target_tid"), .int(1, "signal")],
        "tgkill": [.int(0, "target_pid"), .int(1, "target_tid"), .int(2, "signal")],
        "pidfd_send_signal": [.fd(0), .int(1, "signal")],
        "execve": [.path(0, dirfd: nil), .argv(1)], "execveat": [.path(1, dirfd: 0), .argv(2)],
        "open": [.path(0, dirfd: nil), .octal(1, "flags")], "creat": [.path(0, dirfd: nil)],
        "openat": [.path(1, dirfd: 0), .octal(2, "flags")], "openat2": [.path(1, dirfd: 0)],
        "connect": [.fd(0), .sockaddr(1, length: 2)],
        "symlink": [.text(0, "target"), .path(1, dirfd: nil)], "symlinkat": [.text(0, "target"), .path(2, dirfd: 1)],
        "link": [.path(0, dirfd: nil), .path(1, dirfd: nil)], "linkat": [.path(1, dirfd: 0), .path(3, dirfd: 2)],
        "socket": [.int(0, "domain"), .int(1, "type"), .int(2, "protocol")],
        "socketpair": [.int(0, "domain"), .int(1, "type"), .int(2, "protocol")],
        "ioctl": [.fd(0), .int(1, "request")],
        "clone": [.int(0, "flags")], "unshare": [.int(0, "flags")], "setns": [.fd(0), .int(1, "nstype")],
        "ptrace": [.int(0, "request"), .int(1, "target_pid")],
        "process_vm_readv": [.int(0, "target_pid")], "process_vm_writev": [.int(0, "target_pid")],
        "mount": [.path(1, dirfd: nil)], "personality": [.int(0, "persona")],
    ]

    /// The decoded arguments, or the raw ones for a syscall without a known shape.
    static func decode(name: String, arguments: [UInt64], memory: ProcessMemory) -> [String: JSONValue] {
        guard let shape = shapes[name] else {
            return ["args": .array(arguments.prefix(3).map { .string("0x" + String($0, radix: 16)) })]
        }
        var result: [String: JSONValue] = [:]
        var paths: [JSONValue] = []
        for argument in shape {
            switch argument {
            case .path(let index, let dirfdIndex):
                let dirfd = dirfdIndex.map { Int64(Int32(truncatingIfNeeded: arguments[$0])) }
                if let raw = memory.string(at: arguments[index]) {
                    paths.append(.string(memory.resolve(raw, dirfd: dirfd)))
                } else if let dirfd, dirfd >= 0, let path = memory.fdPath(dirfd) {
                    paths.append(.string(path))  // utimensat(fd, NULL, …) acts on the fd itself
                } else {
                    paths.append(.null)
                }
            case .fd(let index):
                let fd = Int64(Int32(truncatingIfNeeded: arguments[index]))
                result["fd"] = .int(fd)
                if let path = memory.fdPath(fd) { paths.append(.string(path)) }
            case .int(let index, let key):
                result[key] = .int(Int64(Int32(truncatingIfNeeded: arguments[index])))
                if key == "request" || key == "flags" || key == "nstype" || key == "persona" {
                    result[key] = .string("0x" + String(arguments[index], radix: 16))
                }
            case .octal(let index, let key):
                result[key] = .string("0" + String(arguments[index] & 0xFFFF_FFFF, radix: 8))
            case .text(let index, let key):
                result[key] = memory.string(at: arguments[index]).map { .string($0) } ?? .null
            case .argv(let index):
                if let argv = memory.stringArray(at: arguments[index]) {
                    let (kept, cut) = capped(argv)
                    result["argv"] = .array(kept.map { .string($0) })
                    if let cut { result["argv_cut"] = cut }
                }
            case .timespecs(let index):
                result["times"] = times(memory.int64s(at: arguments[index], count: 4), nanoseconds: true, null: arguments[index] == 0)
            case .timevals(let index):
                result["times"] = times(memory.int64s(at: arguments[index], count: 4), nanoseconds: false, null: arguments[index] == 0)
            case .utimbuf(let index):
                if arguments[index] == 0 { result["times"] = "now" } else if let pair = memory.int64s(at: arguments[index], count: 2) {
                    result["times"] = ["atime": .string(stamp(pair[0], 0)), "mtime": .string(stamp(pair[1], 0))]
                }
            case .sockaddr(let index, let lengthIndex):
                let length = min(Int(arguments[lengthIndex] & 0xFFFF), 110)
                if length >= 2, let raw = memory.bytes(at: arguments[index], count: length) {
                    let family = Int(raw[0]) | Int(raw[1]) << 8
                    result["family"] = .int(Int64(family))
                    if family == Int(AF_UNIX), length > 2 {
                        let pathBytes = raw[2...]
                        if pathBytes.first == 0 {
                            result["address"] = .string("@" + String(decoding: pathBytes.dropFirst().prefix { $0 != 0 }, as: UTF8.self))
                        } else {
                            result["address"] = .string(String(decoding: pathBytes.prefix { $0 != 0 }, as: UTF8.self))
                        }
                    }
                }
            }
        }
        if !paths.isEmpty { result["paths"] = .array(paths) }
        return result
    }

    /// atime and mtime of a utimensat/utimes call (UTIME_NOW / UTIME_OMIT named).
    /// An exec's argv is recorded up to `argvBytes` bytes in all (every exec is recorded one by
    /// one, so a loop of huge command lines must not cost the log their size); what was cut is
    /// said in `argv_cut`: the words and bytes the whole argv had.
    static let argvBytes = 4096

    static func capped(_ argv: [String]) -> (kept: [String], cut: JSONValue?) {
        var kept: [String] = []
        var total = 0
        for word in argv {
            let bytes = word.utf8.count
            if total + bytes > argvBytes {
                kept.append(String(decoding: word.utf8.prefix(max(0, argvBytes - total)), as: UTF8.self) + "…")
                let all = argv.reduce(0) { $0 + $1.utf8.count }
                return (kept, ["words": .int(Int64(argv.count)), "bytes": .int(Int64(all))])
            }
            kept.append(word)
            total += bytes
        }
        return (kept, nil)
    }

    private static func times(_ values: [Int64]?, nanoseconds: Bool, null: Bool) -> JSONValue {
        if null { return "now" }
        guard let values else { return .null }
        func one(_ seconds: Int64, _ fraction: Int64) -> JSONValue {
            if nanoseconds && fraction == (1 << 30) - 1 { return "now" }  // UTIME_NOW
            if nanoseconds && fraction == (1 << 30) - 2 { return "omit" }  // UTIME_OMIT
            return .string(stamp(seconds, nanoseconds ? fraction : fraction * 1000))
        }
        return ["atime": one(values[0], values[1]), "mtime": one(values[2], values[3])]
    }

    private static func stamp(_ seconds: Int64, _ nanoseconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
