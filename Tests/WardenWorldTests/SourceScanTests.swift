import Foundation
import Testing

/// The world module reaches files through descriptors only: no call that takes a path string
/// from the root of the file system (or the working directory) may appear in it. A new one
/// fails this test. The exceptions, named here: `Descriptor.directory(at:)`, which opens
/// wardend's own directories, and `ProcessView`, which opens `/proc/PID/root` of a sandbox to
/// resolve beneath it.
@Suite struct SourceScanTests {
    /// Calls by path: a free function (not a method, not a declaration) given an argument.
    static let calls = ["open", "fopen", "opendir", "stat", "lstat", "access", "unlink", "rmdir", "rename", "mkdir", "chmod", "chown",
                        "lchown", "truncate", "utimes", "utime", "readlink", "symlink", "link", "realpath", "statvfs", "creat"]
    static let forbidden = calls.map { #"(?<![.\w])(?<!func )"# + $0 + #"\((?!\))"# }
        + [#"AT_FDCWD"#, #"FileManager"#, #"contentsOfFile"#, #"atPath"#, #"toFile"#, #"fileURLWithPath"#, #"NSString"#]

    @Test func theWorldModuleCallsNothingByPath() throws {
        let directory = repositoryRoot + "/Sources/WardenWorld"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }.sorted()
        #expect(files.count >= 8, "\(files)")
        var found: [String] = []
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if file == "Descriptor.swift" && code.contains("Glibc.open(path,") { continue }
                if file == "ProcessView.swift" && code.contains(#"open("/proc/\(pid)/root""#) { continue }
                for pattern in Self.forbidden where code.range(of: pattern, options: .regularExpression) != nil {
                    found.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(found.isEmpty, "path-based calls in the world module:\n\(found.joined(separator: "\n"))")
    }

    /// The scan finds what it looks for (it is not vacuous).
    @Test func theScanWouldFindAPathCall() {
        let line = "        let fd = open(path, O_RDONLY)"
        #expect(Self.forbidden.contains { line.range(of: $0, options: .regularExpression) != nil })
    }
}
