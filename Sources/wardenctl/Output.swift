import Foundation
import ArgumentParser
import Glibc
import WardenProtocol

/// Standard output for wardenctl: lines written whole, and a reader that goes away (`| head`)
/// ends the program quietly with status 0 — nothing it would have printed is wanted any more.
enum Output {
    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) { write(text + "\n") }

    /// Writes `text` to standard output, whole.
    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { finish() }
                return
            }
            offset += written
        }
    }

    /// Ends the program with status 0 (a closed pipe, or nothing more to do).
    static func finish() -> Never { exit(0) }
}

/// Every `print` of wardenctl goes through `Output`.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Output.write(items.map { "\($0)" }.joined(separator: separator) + terminator)
}

/// A scenario file's text, or an exit with the status its problem stands for: 66 when it does
/// not exist, 77 when it may not be read, 65 when it is not UTF-8 or is over the daemon's
/// request limit (it travels in one request).
func readScenario(_ path: String) throws -> String {
    var info = stat()
    guard stat(path, &info) == 0 else {
        let code = errno
        printError("\(path): \(String(cString: strerror(code)))")
        throw ExitCode(code == EACCES ? ExitStatus.noPermission : ExitStatus.noInput)
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw badValue("\(path): not a regular file") }
    guard Int(info.st_size) <= ControlAPI.maxRequestBytes else {
        throw badValue("\(path): too large (\(info.st_size >> 20) MiB; limit \(ControlAPI.maxRequestBytes >> 20) MiB)")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        printError("\(path): \(String(cString: strerror(errno)))")
        throw ExitCode(errno == EACCES ? ExitStatus.noPermission : ExitStatus.noInput)
    }
    defer { try? handle.close() }
    let data = (try? handle.readToEnd()) ?? Data()
    guard let text = String(data: data, encoding: .utf8) else { throw badValue("\(path): not UTF-8 text") }
    return text
}
