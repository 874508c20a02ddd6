import Foundation
import Glibc

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
