import Foundation
import Glibc

/// What the policy files look like on disk (path, size, modification time of each), so the
/// daemon re-reads them exactly when one changed.
enum PolicyFingerprint {
    static func of(_ directory: String) -> String {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return "" }
        var parts: [String] = []
        while let relative = walker.nextObject() as? String {
            var info = stat()
            guard stat(directory + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            parts.append("\(relative):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)")
        }
        return parts.sorted().joined(separator: "\n")
    }
}
