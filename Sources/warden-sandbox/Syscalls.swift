import CWardenLinux
import Foundation
import Glibc
import WardenCore

enum LaunchErrorCode: String, Sendable {
    /// A step of building the sandbox failed (exit 125).
    case setup = "launch.setup"
    /// The sandbox was built but the command could not be run (exit 127).
    case command = "launch.command"
}

/// A failed step of the launch: which step, and what the kernel answered (the cause).
typealias LaunchFailure = CodedError<LaunchErrorCode>

extension CodedError where Code == LaunchErrorCode {
    init(step: String, errno: Int32, commandFailed: Bool = false) {
        self.init(commandFailed ? .command : .setup, step, cause: errno == 0 ? nil : SystemError(errno))
    }

    var commandFailed: Bool { code == .command }
}

/// Runs a libc call that returns -1 on failure, turning errno into a `LaunchFailure`.
@discardableResult
func check(_ step: @autoclosure () -> String, _ rc: Int32) throws(LaunchFailure) -> Int32 {
    if rc == -1 { throw LaunchFailure(step: step(), errno: errno) }
    return rc
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 { if errno == EINTR { continue }; return }
        offset += n
    }
}

func writeFile(_ path: String, _ text: String) throws(LaunchFailure) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw LaunchFailure(step: "open \(path)", errno: errno) }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == bytes.count else { throw LaunchFailure(step: "write \(path)", errno: errno) }
}

/// waitpid that retries on EINTR and returns the exit code a shell would show.
func waitExitCode(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return 125 }
    }
    return exitCode(status)
}

func exitCode(_ status: Int32) -> Int32 {
    let signal = status & 0x7f
    if signal == 0 { return (status >> 8) & 0xff }
    return 128 + signal
}

func mkdirs(_ path: String, mode: mode_t = 0o755) throws(LaunchFailure) {
    var current = ""
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, mode) != 0 && errno != EEXIST { throw LaunchFailure(step: "mkdir \(current)", errno: errno) }
    }
}

/// Calls `body` with a C array of the strings (valid only during the call).
func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
