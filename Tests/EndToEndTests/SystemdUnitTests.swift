import Foundation
import Testing

/// The units in systemd/, checked by systemd's own tools (no systemd PID 1 is needed).
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
struct SystemdUnitTests {
    /// The exposure score `systemd-analyze security` may give wardend.service (docs/operating.md
    /// explains each capability it keeps and each hardening option it leaves out).
    static let exposureCeiling = 4.3

    /// The units with ExecStart pointing at the binary this build made.
    func stagedUnits() throws -> String {
        let dir = temporaryDirectory("warden-units")
        let service = try String(contentsOfFile: repositoryRoot + "/systemd/wardend.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/wardend", with: Binaries.path("wardend"))
        try service.write(toFile: dir + "/wardend.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/systemd/wardend.socket", toPath: dir + "/wardend.socket")
        return dir
    }

    @Test func unitsVerify() throws {
        let dir = try stagedUnits()
        let result = try runCommand("/usr/bin/systemd-analyze", ["verify", "--man=no", dir + "/wardend.service", dir + "/wardend.socket"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!result.stderr.contains("Unknown"), "\(result.stderr)")
    }

    @Test func exposureStaysUnderTheCeiling() throws {
        let dir = try stagedUnits()
        let result = try runCommand("/usr/bin/systemd-analyze", ["security", "--offline=yes", dir + "/wardend.service"])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        print(line)
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= Self.exposureCeiling, "\(line)")
    }

    @Test func sysusersAndTmpfilesEntriesParse() throws {
        let sysusers = try String(contentsOfFile: repositoryRoot + "/systemd/warden.sysusers.conf", encoding: .utf8)
        #expect(sysusers.split(separator: "\n").contains { $0.hasPrefix("g warden") })
        let tmpfiles = try String(contentsOfFile: repositoryRoot + "/systemd/warden.tmpfiles.conf", encoding: .utf8)
        #expect(tmpfiles.contains("d /var/lib/warden 0700"))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-tmpfiles") {
            // --dry-run does not exist on every version; --cat-config only parses and prints.
            let root = temporaryDirectory("warden-tmpfiles")
            let result = try runCommand("/usr/bin/systemd-tmpfiles", ["--create", "--root=\(root)", repositoryRoot + "/systemd/warden.tmpfiles.conf"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(FileManager.default.fileExists(atPath: root + "/var/lib/warden"))
        }
    }
}
